"""Locality failover order and failback: when the primary region's pods are
ejected by outlier detection (alive, answering 503), v1 traffic fails over to
us-west, the next locality of the DestinationRule's failover list (never
eu-west while us-west is healthy), and returns to us-east once the pods are
healed and their ejection time is over.

The region outage requirement proves the same order under load with pods
killed; this one needs no pod to die: the failover is driven by ejection
alone, as `localityLbSetting` with `outlierDetection` promises."""

from __future__ import annotations

import time
from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.chaos.actions import error_rate, rollback_all
from harness.verdict import Check, Verdict

POOL = "app=llm-chat,version=v1,pool=standard,region=us-east"
# the completion API is pinned to subset v1, which has pods in every region
PROBE = Probe(headers={"x-task-type": "completion"})
WARMUP = 40  # enough for consecutiveGatewayErrors (3) to eject both us-east pods
REQUESTS = 100
BATCH = 20


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    if ctx.observations.per_request(send(ctx.gateway, [PROBE]), "region") is None:
        return [Check(rid, "failover order", Verdict.NOT_APPLICABLE, None, None, "",
                      f"the {ctx.observations.name} source cannot attribute single requests to regions")]
    if _time_until_served(ctx, "us-east", time.time(), ctx.timeout("settle")) is None:
        return [Check(rid, "us-east serves before the fault", Verdict.INCONCLUSIVE, None, None, "",
                      "us-east served no request before the fault (still ejected by an earlier run?)")]
    # an earlier ejection doubles the next one until outlier detection's
    # interval has decayed its multiplier (one step per 5 s interval)
    time.sleep(ctx.timeout("decay"))
    try:
        error_rate(POOL, rate=1.0, status=503, percent=100, seed=1,
                   configuration={**ctx.chaos_configuration, "harness_max_blast_percent": 100})
        send(ctx.gateway, [PROBE] * WARMUP, concurrency=4)
        start = time.time()
        records = send(ctx.gateway, [PROBE] * REQUESTS, concurrency=8)
        end = time.time()
    finally:
        cleared = time.time()
        rollback_all(ctx.chaos_configuration)
    csv = ctx.evidence.records("records", records)
    shares = ctx.observations.shares(records, "region", "llm-chat", start, end)
    failback = _time_until_served(ctx, "us-east", cleared, ctx.timeout("failback"))
    ctx.evidence.json("failover", {"shares": shares, "failback_after_s": failback})
    ok = int(records["ok"].sum())
    return [
        Check.judge(rid, "availability while us-east is ejected", float(records["ok"].mean()), ">=",
                    ctx.threshold("availability"), "", samples=len(records), min_samples=REQUESTS, evidence=(csv,)),
        Check.judge(rid, "share served by us-west (the next locality)", None if shares is None
                    else shares.get("us-west", 0.0), ">=", ctx.threshold("us_west"), "", samples=ok,
                    min_samples=int(REQUESTS * 0.9), evidence=(csv,)),
        Check.judge(rid, "time until healed us-east serves again", failback, "<=", ctx.threshold("failback"), "s",
                    evidence=(csv,)),
    ]


def _time_until_served(ctx: RunContext, region: str, since: float, timeout_s: float) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = send(ctx.gateway, [PROBE] * BATCH, concurrency=4)
        served = ctx.observations.per_request(batch, "region")
        if served is not None and (served == region).any():
            return time.time() - since
        time.sleep(1.0)
    return None


def _us_west_skipped(dr: dict[str, Any]) -> dict[str, Any]:
    dr["spec"]["trafficPolicy"]["loadBalancer"]["localityLbSetting"]["failover"] = [
        {"from": "us-east", "to": "eu-west"}, {"from": "eu-west", "to": "us-west"}]
    return dr


REQUIREMENT = Requirement(
    id="failover.locality-order",
    title="us-east pods ejected: traffic fails over to us-west (not eu-west), and back to us-east once healed",
    feature="locality-failover",
    profiles=frozenset({"full"}),
    why_not_smoke="waits out the 30 s ejection before the failback",
    observes=("served-by",),
    thresholds={"availability": Threshold(0.99, "ratio"), "us_west": Threshold(1.0, "ratio"),
                "failback": Threshold(45.0, "s")},  # baseEjectionTime 30 s + interval 5 s + 10 s of margin
    timeouts={"settle": 60.0, "decay": 15.0, "failback": 60.0},
    broken=BrokenMesh("locality failover reordered us-east -> eu-west -> us-west", "DestinationRule", "llm-chat",
                      _us_west_skipped),
    run=run,
    false_failure=0.0,
    false_failure_basis="deterministic: ejected hosts leave their priority level, not a draw",
)
