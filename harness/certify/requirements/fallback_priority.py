"""Model fallback by failover priority: while the 70B pool is healthy, large
requests are served by it; the 8B fallback pool (which also answers for
llama-3-70b) takes traffic only when no healthy 70B endpoint is left."""

from __future__ import annotations

import time
from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.verdict import Check

REQUESTS = 60  # with the priority gone, least-request over 2 pods sends ~half to the fallback
FALLBACK_WORKLOAD = "chat-large-fallback-us-east"


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    start = time.time()
    records = send(ctx.gateway, [Probe(headers={"x-model-type": "large"}, model="llama-3-70b")] * REQUESTS,
                   concurrency=4)
    end = time.time()
    csv = ctx.evidence.records("records", records)
    ok = int(records["ok"].sum())
    shares = ctx.observations.shares(records, "workload", "llm-chat-large", start, end)
    fallback = None if shares is None else sum(v for k, v in shares.items() if k == FALLBACK_WORKLOAD)
    ctx.evidence.json("workloads", shares)
    return [
        Check.judge(rid, "availability", float(records["ok"].mean()), ">=", ctx.threshold("availability"), "",
                    samples=len(records), min_samples=REQUESTS, evidence=(csv,)),
        Check.judge(rid, "share served by the fallback pool with the 70B pool healthy", fallback, "<=",
                    ctx.threshold("fallback_share"), "", samples=ok, min_samples=int(REQUESTS * 0.9),
                    evidence=(csv,)),
    ]


def _no_priority(dr: dict[str, Any]) -> dict[str, Any]:
    dr["spec"]["trafficPolicy"]["loadBalancer"].pop("localityLbSetting", None)
    return dr


REQUIREMENT = Requirement(
    id="fallback.model-priority",
    title="The 8B fallback pool serves large requests only when no healthy 70B endpoint is left",
    feature="model-fallback",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by",),
    thresholds={"fallback_share": Threshold(0.05, "ratio", slo="chat-large.max_fallback_share"),
                "availability": Threshold(0.99, "ratio", slo="chat-large.availability")},
    timeouts={"requests": 60.0},
    broken=BrokenMesh("failoverPriority removed from llm-chat-large (both pools at one priority)",
                      "DestinationRule", "llm-chat-large", _no_priority),
    run=run,
    false_failure=0.0,
    false_failure_basis="deterministic: priority levels, not a draw",
)
