"""Streaming chat does not retry an engine's 500 (usually deterministic: a
bad prompt, an OOM on a huge context; a retry doubles GPU cost): the catch-all
route's retryOn names gateway errors only."""

from __future__ import annotations

from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements._retries import REQUESTS, with_engine_errors
from harness.verdict import Check

ERROR_RATE = 0.3


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    records = with_engine_errors(ctx, 500, ERROR_RATE)
    csv = ctx.evidence.records("records", records)
    attempts = records["attempts"].fillna(1)
    retried = float((attempts > 1).mean()) if len(records) else None
    failed_500 = int((records["status"] == 500).sum())
    ctx.evidence.json("attempts", {str(k): int(v) for k, v in attempts.value_counts().items()})
    return [
        Check.judge(rid, "engine 500s that reached the client", float(failed_500), ">=", 1.0, "", evidence=(csv,)),
        Check.judge(rid, "share of requests retried", retried, "<=", ctx.threshold("retried"), "",
                    samples=len(records), min_samples=REQUESTS, evidence=(csv,)),
    ]


def _retry_5xx(vs: dict[str, Any]) -> dict[str, Any]:
    for rule in vs["spec"]["http"]:
        if rule.get("name") == "default-canary":
            rule["retries"]["retryOn"] = "5xx," + rule["retries"]["retryOn"]
    return vs


REQUIREMENT = Requirement(
    id="retries.not-on-server-errors",
    title="An engine's 500 on the catch-all route is not retried",
    feature="retries",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by",),
    thresholds={"retried": Threshold(0.0, "ratio")},
    timeouts={"requests": 60.0},
    broken=BrokenMesh("5xx added to default-canary's retryOn", "VirtualService", "llm-chat", _retry_5xx),
    run=run,
)
