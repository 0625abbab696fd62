"""KV-cache affinity spreads users over the pods: the ring hash must not put
every user on one pod (which would keep affinity and lose the pool)."""

from __future__ import annotations

from typing import Any

from harness.analysis.stats import chi_square_uniform
from harness.certify.context import RunContext
from harness.certify.podwatch import watch_pods
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements.affinity_stickiness import modal_pods, user_probes
from harness.certify.traffic import send
from harness.verdict import Check, Verdict

USERS = 40
# v1 users spread over the two us-east v1 pods; a ring hash that splits them
# 30/10 or better keeps the chi-square p-value above 1e-3, all users on one
# pod gives p < 1e-9.
MIN_P_VALUE = 1e-3
POOL = "app=llm-chat,version=v1,pool=standard,region=us-east"


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    with watch_pods(ctx.target, POOL) as watch:
        records = send(ctx.gateway, user_probes(USERS, 2), concurrency=16)
    csv = ctx.evidence.records("records", records)
    pods = ctx.observations.per_request(records, "pod")
    if pods is None:
        return [Check(rid, "spread", Verdict.NOT_APPLICABLE, None, None, "",
                      f"the {ctx.observations.name} source cannot attribute single requests to pods", (csv,))]
    table = modal_pods(records, pods).reset_index()
    v1 = table[table["version"] == "v1"]
    users_per_pod = v1["modal_pod"].value_counts()
    # the pool as the platform lists it, so a pod that got no user counts as zero;
    # only the pods ready through the whole window (one that joined late had no chance)
    pool = sorted(watch.steady)
    spread = {p: int(users_per_pod.get(p, 0)) for p in pool}
    counts = list(spread.values())
    ctx.evidence.json("users-per-pod", spread)
    if len(pool) < 2 or sum(counts) < USERS // 2:
        return [Check(rid, "users spread over v1 pods", Verdict.INCONCLUSIVE, None, MIN_P_VALUE, "",
                      f"{sum(counts)} v1 users over {len(pool)} pods: too few to judge a spread", (csv,))]
    _, p_value = chi_square_uniform(counts)
    check = Check.judge(rid, "chi-square p-value of users per v1 pod", p_value, ">=", ctx.threshold("p_value"), "",
                        evidence=(csv,))
    return [Check(check.requirement, check.name, check.verdict, check.observed, check.threshold, "",
                  f"users per pod {spread}: {check.reason}", check.evidence)]


def _constant_key(dr: dict[str, Any]) -> dict[str, Any]:
    # every request carries the same content-type: one hash, one pod
    dr["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"] = {"httpHeaderName": "content-type"}
    return dr


REQUIREMENT = Requirement(
    id="affinity.spread",
    title="KV-cache affinity spreads users over the pool's pods",
    feature="kv-cache-affinity",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by",),
    thresholds={"p_value": Threshold(MIN_P_VALUE, "ratio")},
    timeouts={"requests": 60.0},
    broken=BrokenMesh("consistentHash on a header every request shares (content-type)", "DestinationRule",
                      "llm-chat", _constant_key),
    run=run,
    false_failure=0.0,
    false_failure_basis="deterministic for the fixed user ids on a given ring",
)
