"""KV-cache affinity: every request of a user (x-user-id) lands on the same
pod, so its prefix cache is reused. Under the 80/20 canary Envoy draws the
version per request, so stickiness is judged per (user, version).

A ring hash keeps a user on its pod while the pods stay. Two things move a
user by design, and neither is a broken affinity: a retry (Istio's retry host
predicate sends it to another host), and a change of the pods behind the ring
(a pod turned ready or unready, restarted, or outlier detection ejected
one). Retried requests, where the mesh says so (attempts > 1), are left out
of the share; a change of the pods during the window (watched throughout,
`harness.certify.podwatch`) makes the verdict inconclusive, naming it."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pandas as pd

from harness.certify.context import RunContext
from harness.certify.podwatch import watch_pods
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements._resilience import wait_ready
from harness.certify.traffic import Probe, send
from harness.verdict import Check, Verdict

SERVICE_PODS = "app=llm-chat"
USERS = 30
REQUESTS_PER_USER = 8  # about 6 per user on v1: round robin over 2 pods keeps at most ~70 % on one


def user_probes(users: int = USERS, per_user: int = REQUESTS_PER_USER) -> list[Probe]:
    return [Probe(headers={"x-user-id": f"certify-user-{u}"}) for _ in range(per_user) for u in range(users)]


def modal_pods(records: pd.DataFrame, pods: pd.Series) -> pd.DataFrame:
    """Per (user, version): requests, and those served by the user's most used pod."""
    frame = pd.DataFrame({"user": records["user_id"], "version": records["served_version"], "pod": pods})
    frame = frame[records["ok"].astype(bool)].dropna()
    counts = frame.groupby(["user", "version", "pod"]).size()
    per_key = counts.groupby(level=[0, 1])
    return pd.DataFrame({"requests": per_key.sum(), "on_modal_pod": per_key.max(),
                         "modal_pod": per_key.idxmax().map(lambda k: k[2])})


def first_tries(records: pd.DataFrame) -> pd.Series:
    """True for requests the mesh served on its first try (or that it did not
    say: a cluster's gateway stamps no attempt count)."""
    attempts = pd.to_numeric(records["attempts"], errors="coerce") if "attempts" in records else None
    return pd.Series(True, index=records.index) if attempts is None else ~(attempts > 1)


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    # an HPA scale-up from earlier traffic still turning ready would move users mid-window:
    # start once every replica the deployments ask for is ready (or the wait is over)
    wait_ready(ctx, SERVICE_PODS, sum(ctx.target.deployments(SERVICE_PODS).values()), time.time(),
               ctx.timeout("settle"))
    with watch_pods(ctx.target, SERVICE_PODS) as watch:
        records = send(ctx.gateway, user_probes(), concurrency=16)
    csv = ctx.evidence.records("records", records)
    name = "share of a user's requests on its pod"
    doubt = watch.doubt("the pods behind llm-chat")
    if doubt:
        return [Check(rid, name, Verdict.INCONCLUSIVE, None, ctx.threshold("stickiness"), "",
                      f"{doubt}: a ring hash moves users when its pods change", (csv,))]
    retried = ~first_tries(records)
    records = records[~retried]
    pods = ctx.observations.per_request(records, "pod")
    if pods is None:
        return [Check(rid, "stickiness", Verdict.NOT_APPLICABLE, None, None,
                      "", f"the {ctx.observations.name} source cannot attribute single requests to pods", (csv,))]
    table = modal_pods(records, pods)
    ctx.evidence.json("per-user", {"retried_left_out": int(retried.sum()),
                                   "users": table.reset_index().to_dict("records")})
    sticky = float(table["on_modal_pod"].sum() / table["requests"].sum()) if len(table) else None
    check = Check.judge(rid, name, sticky, ">=", ctx.threshold("stickiness"), "",
                        samples=int(table["requests"].sum()) if len(table) else 0,
                        min_samples=int(USERS * REQUESTS_PER_USER * 0.9), evidence=(csv,))
    if retried.any():
        check = replace(check, reason=f"{check.reason} ({int(retried.sum())} retried request(s) left out: "
                                      f"a retry goes to another host by design)")
    return [check]


def _round_robin(dr: dict[str, Any]) -> dict[str, Any]:
    dr["spec"]["trafficPolicy"]["loadBalancer"].pop("consistentHash", None)
    dr["spec"]["trafficPolicy"]["loadBalancer"]["simple"] = "ROUND_ROBIN"
    return dr


REQUIREMENT = Requirement(
    id="affinity.stickiness",
    title="KV-cache affinity: a user's requests stay on one pod (per canary version)",
    feature="kv-cache-affinity",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by",),
    thresholds={"stickiness": Threshold(1.0, "ratio")},
    timeouts={"requests": 60.0, "settle": 30.0},
    broken=BrokenMesh("consistentHash replaced by ROUND_ROBIN", "DestinationRule", "llm-chat", _round_robin),
    run=run,
    false_failure=0.0,
    false_failure_basis="deterministic: a ring hash never moves a user while the pods stay",
)
