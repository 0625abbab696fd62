"""The catch-all route mirrors 100 % of its traffic to the v3-rc shadow build,
as the mesh's own telemetry reports it (istio_requests_total of llm-chat-shadow,
reported by the shadow's sidecar)."""

from __future__ import annotations

import time
from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.verdict import Check

REQUESTS = 100
CONCURRENCY = 8  # under the shadow pool's 16 pending / 32 requests: no mirror is shed by design


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    start = time.time()
    records = send(ctx.gateway, [Probe()] * REQUESTS, concurrency=CONCURRENCY)
    end = time.time()
    csv = ctx.evidence.records("records", records)
    ok = int(records["ok"].sum())
    # the shadow's own sidecar reports mirrored requests (the gateway does not)
    mirrored = ctx.observations.request_count("llm-chat-shadow", start, end, reporter="destination")
    share = None if mirrored is None or ok == 0 else mirrored / ok
    return [Check.judge(rid, "mirrored requests per served request", share, ">=", ctx.threshold("mirrored"), "",
                        samples=ok, min_samples=int(REQUESTS * 0.95), evidence=(csv,))]


def _no_mirror(vs: dict[str, Any]) -> dict[str, Any]:
    for rule in vs["spec"]["http"]:
        rule.pop("mirror", None)
        rule.pop("mirrorPercentage", None)
    return vs


REQUIREMENT = Requirement(
    id="mirroring.shadow-copy",
    title="The catch-all route mirrors every request to the shadow build",
    feature="mirroring",
    profiles=frozenset({"smoke", "full"}),
    observes=("mesh-requests",),
    thresholds={"mirrored": Threshold(0.95, "ratio")},
    timeouts={"requests": 60.0},
    broken=BrokenMesh("mirror removed from default-canary", "VirtualService", "llm-chat", _no_mirror),
    run=run,
    false_failure=0.0,
    false_failure_basis="deterministic: 100 % mirroring under the shadow pool limits",
)
