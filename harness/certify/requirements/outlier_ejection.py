"""Outlier detection: a pod that keeps answering 503 is ejected after a few
gateway errors (no more requests try it, so none pays a retry for it), and
comes back into the pool once it is healthy and its ejection time is over."""

from __future__ import annotations

import time
from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.chaos.actions import error_rate, rollback_all
from harness.verdict import Check

POOL = "app=llm-chat,version=v1,pool=standard,region=us-east"
WARMUP = 40  # enough for consecutiveGatewayErrors (3) to eject the failing pod
REQUESTS = 200


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    try:
        victim = error_rate(POOL, rate=1.0, status=503, count=1, seed=1,
                            configuration=ctx.chaos_configuration)["pods"][0]
        send(ctx.gateway, [Probe()] * WARMUP, concurrency=4)
        records = send(ctx.gateway, [Probe()] * REQUESTS, concurrency=8)
    finally:
        cleared = time.time()
        rollback_all(ctx.chaos_configuration)
    csv = ctx.evidence.records("records", records)
    ok = records[records["ok"].astype(bool)]
    retried = float((ok["attempts"].fillna(1) > 1).mean()) if len(ok) else None
    returned = _time_to_return(ctx, victim, cleared, ctx.timeout("return"))
    ctx.evidence.json("ejection", {"victim": victim, "retried_share": retried, "returned_after_s": returned})
    return [
        Check.judge(rid, "availability while one pod fails", float(records["ok"].mean()), ">=",
                    ctx.threshold("availability"), "", samples=len(records), min_samples=REQUESTS, evidence=(csv,)),
        Check.judge(rid, "share of requests retried after the ejection", retried, "<=", ctx.threshold("retried"), "",
                    samples=len(ok), min_samples=int(REQUESTS * 0.9), evidence=(csv,)),
        Check.judge(rid, "time until the healed pod serves again", returned, "<=", ctx.threshold("return"), "s",
                    evidence=(csv,)),
    ]


def _time_to_return(ctx: RunContext, pod: str, since: float, timeout_s: float) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = send(ctx.gateway, [Probe()] * 20, concurrency=4)
        if (batch["served_pod"] == pod).any():
            return time.time() - since
        time.sleep(1.0)
    return None


def without_outlier_detection(dr: dict[str, Any]) -> dict[str, Any]:
    dr["spec"]["trafficPolicy"].pop("outlierDetection", None)
    return dr


REQUIREMENT = Requirement(
    id="outlier.ejection-and-return",
    title="A pod answering 503 is ejected (requests stop paying a retry for it) and returns once healed",
    feature="outlier-detection",
    profiles=frozenset({"full"}),
    why_not_smoke="waits out the 30 s ejection",
    observes=("served-by",),
    thresholds={"availability": Threshold(0.99, "ratio"), "retried": Threshold(0.02, "ratio"),
                "return": Threshold(45.0, "s")},  # baseEjectionTime 30 s + interval 5 s + 10 s of margin
    timeouts={"return": 60.0},
    broken=BrokenMesh("outlierDetection removed from llm-chat", "DestinationRule", "llm-chat",
                      without_outlier_detection),
    run=run,
    false_failure=0.0,
    false_failure_basis="deterministic: consecutive-error ejection, not a draw",
)
