"""Route timeout: an upstream slower than the route's budget is cut by the
mesh with 504 (Envoy's UT) once the budget is spent, not left to hang.

The embeddings route has the shortest budget of the reference stack (30 s,
10 s per try, two retries). Its engines are slowed so that each request
needs about 45 s (one slowed step per input): every request must be answered
504 within the 30 s budget plus a margin. Each slowed step lasts about one
second, so the engines catch up at once when the slowdown is rolled back."""

from __future__ import annotations

import time
from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.chaos.actions import engine_slowdown, rollback_all
from harness.verdict import Check

SELECTOR = "app=llm-embed"  # every embedding pod: an ejected one must not leave a fast one to fail over to
RULE = "embeddings"
FACTOR = 50.0  # a 20 ms step becomes 1 s
INPUTS = 45  # one step per input: about 45 s, beyond the 30 s budget
REQUESTS = 8  # concurrent: they share the engines' steps, so the run lasts one budget


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    probe = Probe(path="/v1/embeddings", model="bge-small", inputs=tuple(f"timeout probe {i}" for i in range(INPUTS)))
    try:
        engine_slowdown(SELECTOR, factor=FACTOR, percent=100,
                        configuration={**ctx.chaos_configuration, "harness_max_blast_percent": 100})
        start = time.time()
        records = send(ctx.gateway, [probe] * REQUESTS, concurrency=REQUESTS, timeout_s=ctx.timeout("client"))
        end = time.time()
    finally:
        rollback_all(ctx.chaos_configuration)
    csv = ctx.evidence.records("records", records)
    cut = records[records["status"] == 504]
    ctx.evidence.json("timeouts", {"statuses": records["status"].value_counts(dropna=False).to_dict(),
                                   "errors": records["error"].value_counts().to_dict(),
                                   "e2e_s": records["e2e_s"].round(2).tolist(), "window": [start, end]})
    slowest = float(cut["e2e_s"].max()) if len(cut) else None
    return [
        Check.judge(rid, "share of slow requests cut with 504", len(cut) / len(records) if len(records) else None,
                    ">=", ctx.threshold("cut"), "", samples=len(records), min_samples=REQUESTS, evidence=(csv,)),
        ctx.judge_latency(
            Check.judge(rid, "slowest cut request (route timeout 30 s)", slowest, "<=", ctx.threshold("cut_within"),
                        "s", samples=len(cut), min_samples=REQUESTS, evidence=(csv,)), start, end),
    ]


def _without_timeouts(vs: dict[str, Any]) -> dict[str, Any]:
    for rule in vs["spec"]["http"]:
        if rule.get("name") == RULE:
            rule.pop("timeout", None)
            rule.get("retries", {}).pop("perTryTimeout", None)
    return vs


REQUIREMENT = Requirement(
    id="timeouts.route-timeout",
    title="An upstream slower than the route timeout is cut with 504 within the timeout plus a margin",
    feature="timeouts",
    profiles=frozenset({"full"}),
    why_not_smoke="waits out the embeddings route's 30 s timeout (and 45 s on the broken mesh)",
    observes=("latency",),
    # timeout 30 s + 5 s for the mesh's timer and a loaded machine
    thresholds={"cut": Threshold(1.0, "ratio"), "cut_within": Threshold(35.0, "s")},
    timeouts={"client": 45.0},  # beyond the 35 s bound, so a hanging request is failed, not waited on
    broken=BrokenMesh(f"timeout and perTryTimeout removed from the {RULE!r} rule", "VirtualService", "llm-chat",
                      _without_timeouts),
    run=run,
    false_failure=0.0,
    false_failure_basis="deterministic: every request outlasts the budget, a timer is not a draw",
)
