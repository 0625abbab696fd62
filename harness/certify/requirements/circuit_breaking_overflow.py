"""Connection-pool circuit breaking on the large model: beyond its request
budget (http2MaxRequests 64 for llm-chat-large) excess requests fail fast
with 503 instead of piling onto the slow 70B pod, and those within the
budget are served."""

from __future__ import annotations

from typing import Any

from harness.analysis.frames import percentile_ms
from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.verdict import Check

BURST = 120  # about twice the pool's 64 requests, all at once
MAX_TOKENS = 40  # 40 decode steps of 40 ms: each admitted request holds its slot for about 1.6 s


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    probe = Probe(headers={"x-model-type": "large"}, model="llama-3-70b", max_tokens=MAX_TOKENS)
    records = send(ctx.gateway, [probe] * BURST, concurrency=BURST)
    csv = ctx.evidence.records("records", records)
    shed = records[records["status"] == 503]
    served = int(records["ok"].sum())
    ctx.evidence.json("burst", {"requests": len(records), "served": served, "shed_503": len(shed),
                                "other": int(len(records) - served - len(shed))})
    shed_p95 = percentile_ms(shed["e2e_s"], 0.95) / 1000.0 if len(shed) else None
    return [
        Check.judge(rid, "requests shed with 503 beyond the pool's budget", float(len(shed)), ">=",
                    ctx.threshold("min_shed"), "", evidence=(csv,)),
        Check.judge(rid, "p95 time to shed a request", shed_p95, "<=", ctx.threshold("shed_fast"), "s",
                    evidence=(csv,)),
        Check.judge(rid, "requests within the budget that were served", float(served), ">=",
                    ctx.threshold("min_served"), "", evidence=(csv,)),
    ]


def _no_pool_limits(dr: dict[str, Any]) -> dict[str, Any]:
    dr["spec"]["trafficPolicy"].pop("connectionPool", None)
    return dr


REQUIREMENT = Requirement(
    id="circuit-breaking.pool-overflow",
    title="Beyond the large model's request budget, excess requests are shed fast with 503",
    feature="circuit-breaking",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by",),
    # 120 at once against 64 requests + 32 pending: at least 10 shed; a shed
    # answer is a local reply (well under a decode step of the 70B pod, 40 ms,
    # times the 40 tokens an admitted request takes); every admitted one served
    thresholds={"min_shed": Threshold(10.0, "requests"), "shed_fast": Threshold(0.5, "s"),
                "min_served": Threshold(60.0, "requests")},
    timeouts={"requests": 60.0},
    broken=BrokenMesh("connectionPool limits removed from llm-chat-large", "DestinationRule", "llm-chat-large",
                      _no_pool_limits),
    run=run,
    peak_streams=BURST,
    false_failure=0.0,
    false_failure_basis="deterministic: a counting limit, not a draw",
)
