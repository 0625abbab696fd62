"""Injected latency: an Istio `fault.delay` (1.5 s on every request) on the
catch-all route (default-canary) while standard and premium users stream chat
requests.

The promises, each judged:
- the delay reaches the standard requests as configured (their TTFT median is
  at least the delay): a fault that was not applied never reads as a pass;
- the delayed requests are still answered: no route or per-try timeout of the
  catch-all is shorter than a delayed first token, so availability holds;
- premium users, who have a rule of their own (premium-tier), keep their TTFT
  SLO while the standard route is slow (tier isolation);
- by the mesh's own account, the fault delayed no premium request: requests
  `istio_requests_total` reports with the response flag DI (Envoy's "delay
  injected") are at most the standard requests sent. This figure is the
  mesh's, not the client's clock, so it holds whatever the local stack's own
  event loops did: a TTFT failure under a lagging test double is
  inconclusive, but premium requests delayed by the fault are the mesh's doing.

Envoy's fault filter delays a request before the router sees it, so the
route's timeouts and retries neither bound nor shorten an injected delay: it
shows in full in the standard requests' TTFT."""

from __future__ import annotations

import pandas as pd

from harness.analysis.frames import percentile_ms, timed
from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements.resilience_injected_abort import premium_rule_removed
from harness.certify.traffic import Probe, send
from harness.chaos.actions import inject_latency, rollback_all
from harness.verdict import Check, Verdict

ROUTE = "default-canary"
DELAY_S = 1.5
PREMIUM = 60  # a p95 over 60 samples: the third-slowest may be at most the SLO
STANDARD = 60
# premium requests sent: beyond PREMIUM, so that judging again without those a
# brief stall of the local stack touched still leaves enough (`judge_latency`)
PREMIUM_SENT = 100
CONCURRENCY = 16


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    standard, premium = Probe(stream=True), Probe(stream=True, headers={"x-user-tier": "premium"})
    try:
        inject_latency("llm-chat", fixed_delay=f"{DELAY_S:g}s", percentage=100.0, route=ROUTE,
                       configuration=ctx.chaos_configuration)
        during = send(ctx.gateway, [standard, premium] * STANDARD + [premium] * (PREMIUM_SENT - STANDARD),
                      concurrency=CONCURRENCY,
                      timeout_s=ctx.timeout("client"))
    finally:
        rollback_all(ctx.chaos_configuration)
    csv = ctx.evidence.records("records", during)
    is_premium = during["tier"] == "premium"
    std, prem = during[~is_premium], during[is_premium]
    std_ok, prem_ok = std[std["ok"].astype(bool)], prem[prem["ok"].astype(bool)]
    stamps = timed(during)["t"]
    start, end = float(stamps.min()), float(stamps.max() + during["e2e_s"].max())
    prem_ok = timed(prem_ok)
    std_p50 = percentile_ms(std_ok["ttft_s"], 0.5) / 1000.0

    def premium_p95(answered: pd.DataFrame) -> Check:
        return Check.judge(rid, "premium ttft p95 during the delay", percentile_ms(answered["ttft_s"], 0.95) / 1000.0,
                           "<=", ctx.threshold("premium_ttft_p95"), "s", samples=len(answered), min_samples=PREMIUM,
                           evidence=(csv,))

    premium_ttft = premium_p95(prem_ok)
    ctx.evidence.json("latency", {
        "standard": {"requests": len(std), "statuses": std["status"].value_counts(dropna=False).to_dict(),
                     "ttft_p50_s": std_p50},
        "premium": {"requests": len(prem), "statuses": prem["status"].value_counts(dropna=False).to_dict(),
                    "ttft_p95_s": premium_ttft.observed},
        "window": [start, end]})
    return [
        premium_delayed_check(ctx, len(std), len(prem), start, end, csv),
        Check.judge(rid, "standard ttft p50 during the delay (the fault applied)",
                    std_p50, ">=", ctx.threshold("applied"), "s",
                    samples=len(std_ok), min_samples=STANDARD // 2, evidence=(csv,)),
        Check.judge(rid, "standard availability during the delay", float(std["ok"].mean()) if len(std) else None,
                    ">=", ctx.threshold("availability"), "", samples=len(std), min_samples=STANDARD, evidence=(csv,)),
        ctx.judge_latency(premium_ttft, start, end, rejudge=lambda stalls: premium_p95(
            prem_ok[stalls.clear(prem_ok["t"], prem_ok["t"] + prem_ok["ttft_s"])])),
    ]


def premium_delayed_check(ctx: RunContext, standard_sent: int, premium_sent: int,
                          start: float, end: float, csv: str) -> Check:
    """The share of premium requests the mesh says its fault filter delayed:
    the DI-flagged requests beyond the standard ones (each of those is delayed)."""
    name = "premium share delayed by the fault (the mesh's response flag DI)"
    if ctx.observations.name == "none":
        return Check(REQUIREMENT.id, name, Verdict.NOT_APPLICABLE, None, None, "",
                     "no Prometheus to read the mesh's response flags from (pass --prometheus)", (csv,))
    delayed = ctx.observations.request_count("llm-chat", start, end, response_flag="DI")
    share = None if delayed is None or not premium_sent else max(0.0, delayed - standard_sent) / premium_sent
    return Check.judge(REQUIREMENT.id, name, share, "<=", ctx.threshold("premium_delayed"), "",
                       samples=premium_sent, min_samples=PREMIUM, evidence=(csv,))


REQUIREMENT = Requirement(
    id="resilience.injected-latency",
    title="Injected latency on the catch-all is applied as configured, answered, and does not slow premium users",
    feature="fault-injection",
    kind="resilience",
    profiles=frozenset({"smoke", "full"}),
    observes=("latency", "fault-window", "mesh-requests"),
    thresholds={"applied": Threshold(DELAY_S, "s"),
                "premium_delayed": Threshold(0.0, "ratio"),
                "availability": Threshold(0.99, "ratio", slo="chat.availability"),
                "premium_ttft_p95": Threshold(1.0, "s", slo="chat-premium.ttft_p95")},
    timeouts={"client": 60.0},
    broken=BrokenMesh("the premium-tier rule removed (premium users fall into the delayed catch-all)",
                      "VirtualService", "llm-chat", premium_rule_removed),
    run=run,
    peak_streams=CONCURRENCY,
    weight=3,
)
