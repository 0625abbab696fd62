"""Tier isolation: premium users keep being served while the standard pool
sheds every request (503, as an overloaded pool does), because they have a
pool of their own."""

from __future__ import annotations

from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.chaos.actions import error_rate, rollback_all
from harness.verdict import Check

REQUESTS = 60
STANDARD_POOL = "app=llm-chat,pool=standard"


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    configuration = {**ctx.chaos_configuration, "harness_max_blast_percent": 100}
    try:
        error_rate(STANDARD_POOL, rate=1.0, status=503, percent=100, configuration=configuration)
        records = send(ctx.gateway, [Probe(headers={"x-user-tier": "premium"})] * REQUESTS, concurrency=8)
    finally:
        rollback_all(configuration)
    csv = ctx.evidence.records("records", records)
    return [Check.judge(rid, "premium availability while the standard pool sheds everything",
                        float(records["ok"].mean()), ">=", ctx.threshold("availability"), "",
                        samples=len(records), min_samples=REQUESTS, evidence=(csv,))]


def _premium_on_standard(vs: dict[str, Any]) -> dict[str, Any]:
    for rule in vs["spec"]["http"]:
        if rule.get("name") == "premium-tier":
            rule["route"] = [{"destination": {"host": "llm-chat", "subset": "standard"}}]
    return vs


REQUIREMENT = Requirement(
    id="isolation.premium-tier",
    title="Premium users are unaffected when the standard pool sheds load",
    feature="tier-isolation",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by",),
    thresholds={"availability": Threshold(0.995, "ratio", slo="chat-premium.availability")},
    timeouts={"requests": 60.0},
    broken=BrokenMesh("premium-tier routed to the standard subset", "VirtualService", "llm-chat",
                      _premium_on_standard),
    run=run,
    false_failure=0.0,
    false_failure_basis="deterministic: the premium route never reaches the standard pool",
)
