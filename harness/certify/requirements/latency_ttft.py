"""Interactive chat keeps its TTFT SLO under everyday load (streaming chat
users through the catch-all route), and its availability.

On the local stack a latency verdict stands only while the stack's own event
loops keep up (`harness.localstack.selfcheck`): beyond the bound the verdict is
inconclusive, because the test double and not the mesh may have added the
latency."""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.analysis.frames import percentile_ms, timed
from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.load.runner import LoadRun
from harness.verdict import Check, Verdict

USERS = 10
MIN_REQUESTS = 30


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    load = LoadRun("chat_stream", ctx.gateway, duration_s=ctx.timeout("load"), users=USERS, spawn_rate=USERS)
    result = load.run()
    records = result.records
    csv = ctx.evidence.records("records", records)
    if records.empty:
        return [Check(rid, "ttft p95", Verdict.INCONCLUSIVE, None, None, "s",
                      f"the load produced no records (Locust exit {result.exit_code}): {result.output[-300:]}",
                      (csv,))]
    records = timed(records)
    start, end = float(records["t"].min()), float((records["t"] + records["e2e_s"]).max())
    ok = records[records["ok"].astype(bool)]

    def ttft_p95(answered: pd.DataFrame) -> Check:
        return Check.judge(rid, "ttft p95", percentile_ms(answered["ttft_s"], 0.95) / 1000.0, "<=",
                           ctx.threshold("ttft_p95"), "s", samples=len(answered), min_samples=MIN_REQUESTS,
                           evidence=(csv,))

    query, mesh_availability = ctx.slo_promql("availability", start, end)
    checks = [
        Check.judge(rid, "availability", float(records["ok"].mean()), ">=", ctx.threshold("availability"), "",
                    samples=len(records), min_samples=MIN_REQUESTS, evidence=(csv,)),
        ctx.judge_latency(ttft_p95(ok), start, end,
                          rejudge=lambda stalls: ttft_p95(ok[stalls.clear(ok["t"], ok["t"] + ok["ttft_s"])])),
    ]
    if query is not None:  # the same figure from the mesh's telemetry, as the SLO spec writes it
        checks.append(Check.judge(rid, "availability (the SLO's PromQL)", mesh_availability, ">=",
                                  ctx.threshold("availability"), "", evidence=(csv,)))
    return checks


def _delayed(vs: dict[str, Any]) -> dict[str, Any]:
    for rule in vs["spec"]["http"]:
        if rule.get("name") == "default-canary":
            rule["fault"] = {"delay": {"fixedDelay": "1.5s", "percentage": {"value": 100.0}}}
    return vs


REQUIREMENT = Requirement(
    id="latency.ttft-slo",
    title="Interactive chat keeps its TTFT p95 and availability SLO under everyday load",
    feature="latency",
    profiles=frozenset({"smoke", "full"}),
    observes=("latency",),
    thresholds={"ttft_p95": Threshold(1.0, "s", slo="chat.ttft_p95"),
                "availability": Threshold(0.99, "ratio", slo="chat.availability")},
    timeouts={"load": 20.0},
    broken=BrokenMesh("a 1.5 s fault.delay on default-canary", "VirtualService", "llm-chat", _delayed),
    run=run,
    peak_streams=USERS,
)
