"""Gateway errors (503 from an engine) on the catch-all route are retried
(retryOn gateway-error), so a pool answering 30 % of requests with 503 still
serves nearly every client request."""

from __future__ import annotations

from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements._retries import REQUESTS, with_engine_errors
from harness.verdict import Check

ERROR_RATE = 0.3  # without retries about 30 % of requests fail; with 2 retries about 3 % at worst


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    records = with_engine_errors(ctx, 503, ERROR_RATE)
    csv = ctx.evidence.records("records", records)
    retried = int((records["attempts"].fillna(1) > 1).sum())
    ctx.evidence.json("attempts", {str(k): int(v) for k, v in records["attempts"].value_counts().items()})
    return [
        Check.judge(rid, "availability while engines answer 30 % with 503", float(records["ok"].mean()), ">=",
                    ctx.threshold("availability"), "", samples=len(records), min_samples=REQUESTS, evidence=(csv,)),
        Check.judge(rid, "requests the mesh retried", float(retried), ">=", 1.0, "", evidence=(csv,)),
    ]


def _no_retries(vs: dict[str, Any]) -> dict[str, Any]:
    for rule in vs["spec"]["http"]:
        if rule.get("name") == "default-canary":
            rule["retries"] = {"attempts": 0}
    return vs


REQUIREMENT = Requirement(
    id="retries.gateway-errors",
    title="Gateway errors (503) on the catch-all route are retried",
    feature="retries",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by",),
    thresholds={"availability": Threshold(0.9, "ratio")},
    timeouts={"requests": 60.0},
    broken=BrokenMesh("retries removed from default-canary", "VirtualService", "llm-chat", _no_retries),
    run=run,
)
