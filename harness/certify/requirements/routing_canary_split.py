"""The catch-all route splits traffic 80/20 between v1 and the v2 canary.

The observed v2 share must lie within 0.20 +- TOLERANCE. The number of
requests is computed so that a mesh splitting exactly 80/20 lands outside that
band with probability FALSE_FAIL (exact binomial tails), and a mesh off by
more than twice the tolerance lands inside it with at most the same
probability.
"""

from __future__ import annotations

import time
from typing import Any

from harness.analysis.stats import binomial_tail_outside, sample_size_for_share
from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.verdict import Check

CANARY_SHARE = 0.20
TOLERANCE = 0.07
FALSE_FAIL = 1e-6
REQUESTS = sample_size_for_share(CANARY_SHARE, TOLERANCE, FALSE_FAIL)


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    start = time.time()
    records = send(ctx.gateway, [Probe()] * REQUESTS, concurrency=24)
    end = time.time()
    csv = ctx.evidence.records("records", records)
    ok = int(records["ok"].sum())
    shares = ctx.observations.shares(records, "version", "llm-chat", start, end)
    v2 = None if shares is None else shares.get("v2", 0.0)
    tolerance = ctx.threshold("tolerance")
    ctx.evidence.json("split", {"shares": shares, "requests": REQUESTS, "ok": ok, "source": ctx.observations.name,
                                "false_failure_probability": binomial_tail_outside(REQUESTS, CANARY_SHARE,
                                                                                   tolerance)})
    return [
        Check.judge(rid, "availability", float(records["ok"].mean()), ">=", ctx.threshold("availability"), "",
                    samples=len(records), min_samples=REQUESTS, evidence=(csv,)),
        Check.judge(rid, "v2 share", v2, "within", (CANARY_SHARE - tolerance, CANARY_SHARE + tolerance), "",
                    samples=ok, min_samples=int(REQUESTS * 0.95), evidence=(csv,)),
    ]


def _fifty_fifty(vs: dict[str, Any]) -> dict[str, Any]:
    for rule in vs["spec"]["http"]:
        if rule.get("name") == "default-canary":
            for dest in rule["route"]:
                dest["weight"] = 50
    return vs


REQUIREMENT = Requirement(
    id="routing.canary-split",
    title="The catch-all route splits traffic 80/20 between v1 and the v2 canary",
    feature="traffic-splitting",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by",),
    thresholds={"tolerance": Threshold(TOLERANCE, "ratio"), "availability": Threshold(0.99, "ratio")},
    timeouts={"requests": 120.0},
    broken=BrokenMesh("default-canary weights changed to 50/50", "VirtualService", "llm-chat", _fifty_fifty),
    run=run,
    peak_streams=24,
    false_failure=binomial_tail_outside(REQUESTS, CANARY_SHARE, TOLERANCE),
    false_failure_basis="exact binomial tail of the sample size",
    notes={"sample size": f"{REQUESTS} requests: P(false failure) <= {FALSE_FAIL:g} at +-{TOLERANCE:g}"},
)
