"""Injected abort: an Istio `fault.abort` (HTTP 503 on half the requests) on
the catch-all route (default-canary) while standard and premium users send
chat requests.

The promises, each judged:
- the abort is applied as configured and reaches clients as it is: Envoy's
  fault filter runs before the router, so an injected abort is a local reply
  that no retry policy sees (the route retries gateway errors). The share of
  standard requests answered 503 must lie within ABORT_SHARE +- TOLERANCE; a
  mesh that retried aborts would show about a quarter (one retry) or none;
- premium users, who have a rule of their own (premium-tier), are not
  touched: their availability holds the premium SLO during the fault;
- once the fault is rolled back, the catch-all serves its SLO again.

The sample size follows from the band and the false-failure probability
(exact binomial tails), never a fixed count."""

from __future__ import annotations

from typing import Any

from harness.analysis.stats import binomial_tail_outside, sample_size_for_share
from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.chaos.actions import inject_abort, rollback_all
from harness.verdict import Check

ROUTE = "default-canary"
ABORT_SHARE = 0.5
TOLERANCE = 0.15
FALSE_FAIL = 1e-6
STANDARD = sample_size_for_share(ABORT_SHARE, TOLERANCE, FALSE_FAIL)
# premium must answer >= 99.5 %: a good pool answers all of them, an aborted
# premium rule would lose about half, so 100 requests tell the two apart
PREMIUM = 100
AFTER = 60
CONCURRENCY = 16


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    standard, premium = Probe(), Probe(headers={"x-user-tier": "premium"})
    try:
        inject_abort("llm-chat", http_status=503, percentage=ABORT_SHARE * 100, route=ROUTE,
                     configuration=ctx.chaos_configuration)
        during = send(ctx.gateway, [standard, premium] * max(STANDARD, PREMIUM), concurrency=CONCURRENCY)
    finally:
        rollback_all(ctx.chaos_configuration)
    after = send(ctx.gateway, [standard] * AFTER, concurrency=CONCURRENCY)
    csv = ctx.evidence.records("records", during)
    after_csv = ctx.evidence.records("records-after-rollback", after)
    is_premium = during["tier"] == "premium"
    std, prem = during[~is_premium].head(STANDARD), during[is_premium].head(PREMIUM)
    aborted = float((std["status"] == 503).mean()) if len(std) else None
    tolerance = ctx.threshold("tolerance")
    ctx.evidence.json("abort", {
        "standard": {"requests": len(std), "statuses": std["status"].value_counts(dropna=False).to_dict()},
        "premium": {"requests": len(prem), "statuses": prem["status"].value_counts(dropna=False).to_dict()},
        "after": {"requests": len(after), "statuses": after["status"].value_counts(dropna=False).to_dict()},
        "false_failure_probability": binomial_tail_outside(STANDARD, ABORT_SHARE, tolerance)})
    return [
        Check.judge(rid, "share of standard requests aborted with 503", aborted, "within",
                    (ABORT_SHARE - tolerance, ABORT_SHARE + tolerance), "", samples=len(std),
                    min_samples=STANDARD, evidence=(csv,)),
        Check.judge(rid, "premium availability during the abort", float(prem["ok"].mean()) if len(prem) else None,
                    ">=", ctx.threshold("premium_availability"), "", samples=len(prem), min_samples=PREMIUM,
                    evidence=(csv,)),
        Check.judge(rid, "standard availability after the rollback", float(after["ok"].mean()) if len(after) else None,
                    ">=", ctx.threshold("availability"), "", samples=len(after), min_samples=AFTER,
                    evidence=(after_csv,)),
    ]


def premium_rule_removed(vs: dict[str, Any]) -> dict[str, Any]:
    vs["spec"]["http"] = [rule for rule in vs["spec"]["http"] if rule.get("name") != "premium-tier"]
    return vs


REQUIREMENT = Requirement(
    id="resilience.injected-abort",
    title="An injected abort reaches exactly the requests it is configured for: not retried, not leaking to premium",
    feature="fault-injection",
    kind="resilience",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by", "fault-window"),
    thresholds={"tolerance": Threshold(TOLERANCE, "ratio"),
                "premium_availability": Threshold(0.995, "ratio", slo="chat-premium.availability"),
                "availability": Threshold(0.99, "ratio", slo="chat.availability")},
    timeouts={},
    broken=BrokenMesh("the premium-tier rule removed (premium users fall into the aborted catch-all)",
                      "VirtualService", "llm-chat", premium_rule_removed),
    run=run,
    peak_streams=CONCURRENCY,
    weight=3,
    false_failure=None,
    false_failure_basis=f"the abort share: {FALSE_FAIL:g} (exact binomial, {STANDARD} requests); premium and "
                        "after-rollback availability: not analytical, measured by benchmarks/certify_runs.py",
)
