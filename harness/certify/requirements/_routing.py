"""Building blocks shared by routing requirements: content routing by one
header, and rewriting a VirtualService rule away."""

from __future__ import annotations

import time
from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.observe.sources import Dimension
from harness.verdict import Check, Verdict

__all__ = ["header_route", "without_rule"]

# Requests per header: the route is deterministic, so one request served
# elsewhere is a failure; 40 requests see a rule that misroutes even 1 request
# in 10 with probability 1 - 0.9**40 = 98.5 %.
_REQUESTS = 40
_MIN_OK = 36


def without_rule(rule: str) -> Any:
    def rewrite(vs: dict[str, Any]) -> dict[str, Any]:
        vs["spec"]["http"] = [r for r in vs["spec"]["http"] if r.get("name") != rule]
        return vs

    return rewrite


def header_route(id: str, title: str, header: str, value: str, dimension: Dimension, service: str,
                 expected: str, rule: str, model: str = "llama-3-8b") -> Requirement:
    """Requests carrying `header: value` are all served by `service` with
    `dimension` == `expected` (the VirtualService rule `rule`)."""

    def run(ctx: RunContext) -> list[Check]:
        start = time.time()
        records = send(ctx.gateway, [Probe(headers={header: value}, model=model)] * _REQUESTS)
        end = time.time()
        csv = ctx.evidence.records("records", records)
        ok = int(records["ok"].sum())
        shares = ctx.observations.shares(records, dimension, service, start, end)
        if shares is None and dimension == "service":
            shares = {}
        share = None if shares is None else shares.get(expected, 0.0)
        answered = Check.judge(id, "availability", float(records["ok"].mean()), ">=", ctx.threshold("availability"),
                               "", samples=len(records), min_samples=_REQUESTS, evidence=(csv,))
        check = Check.judge(id, f"share served by {dimension} {expected}", share, ">=",
                            ctx.threshold("share"), "", samples=ok, min_samples=_MIN_OK, evidence=(csv,))
        if check.verdict is Verdict.FAIL:
            seen = ", ".join(f"{k or '(none)'} {v:.0%}" for k, v in sorted((shares or {}).items()))
            elsewhere = records[records["served_service"] != service]["served_service"].value_counts().to_dict()
            check = Check(id, check.name, Verdict.FAIL, share, check.threshold, "",
                          f"{header}: {value} served by {dimension} {seen or 'nothing'}"
                          + (f"; other services: {elsewhere}" if elsewhere else ""), (csv,))
        return [answered, check]

    return Requirement(
        id=id, title=title, feature="content-routing", profiles=frozenset({"smoke", "full"}),
        observes=("served-by",), thresholds={"share": Threshold(1.0, "ratio"), "availability": Threshold(0.9, "ratio")},
        timeouts={"requests": 60.0},
        broken=BrokenMesh(f"the VirtualService rule {rule!r} removed", "VirtualService", "llm-chat",
                          without_rule(rule)),
        run=run, false_failure=0.0, false_failure_basis="deterministic: a header rule is not a draw")
