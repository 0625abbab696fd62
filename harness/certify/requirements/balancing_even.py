"""Load balancing: requests that carry no affinity key are spread evenly over
the pods of the subset that serves them (the v1 pods of the primary region)."""

from __future__ import annotations

from typing import Any

from harness.analysis.stats import chi_square_uniform
from harness.certify.context import RunContext
from harness.certify.podwatch import watch_pods
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.traffic import Probe, send
from harness.verdict import Check, Verdict

REQUESTS = 400  # about 320 on v1: a 60/40 split or worse between its two pods gives p < 1e-4
MIN_P_VALUE = 1e-4  # the false-failure probability of a perfectly even balancer, by the test's definition
POOL = "app=llm-chat,version=v1,pool=standard,region=us-east"


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    with watch_pods(ctx.target, POOL) as watch:
        records = send(ctx.gateway, [Probe()] * REQUESTS, concurrency=16)
    csv = ctx.evidence.records("records", records)
    pods = ctx.observations.per_request(records, "pod")
    if pods is None:
        return [Check(rid, "balance", Verdict.NOT_APPLICABLE, None, None, "",
                      f"the {ctx.observations.name} source cannot attribute single requests to pods", (csv,))]
    # Judge the pods that served the whole window: a replica the HPA adds (or
    # removes) mid-run, or one that blinked, was not there to be balanced onto
    # for all of it; the others still share what remains evenly.
    pool = sorted(watch.steady)
    served = pods[records["ok"].astype(bool)].value_counts()
    counts = {p: int(served.get(p, 0)) for p in pool}
    ctx.evidence.json("requests-per-pod", counts)
    if len(pool) < 2 or sum(counts.values()) < REQUESTS // 2:
        return [Check(rid, "balance", Verdict.INCONCLUSIVE, None, MIN_P_VALUE, "",
                      f"{sum(counts.values())} requests over {len(pool)} pods: too few to judge", (csv,))]
    _, p_value = chi_square_uniform(list(counts.values()))
    check = Check.judge(rid, "chi-square p-value of requests per v1 pod", p_value, ">=", ctx.threshold("p_value"),
                        "", evidence=(csv,))
    return [Check(rid, check.name, check.verdict, check.observed, check.threshold, "",
                  f"requests per pod {counts}: {check.reason}", check.evidence)]


def _one_key(dr: dict[str, Any]) -> dict[str, Any]:
    dr["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"] = {"httpHeaderName": "content-type"}
    return dr


REQUIREMENT = Requirement(
    id="balancing.even-spread",
    title="Requests without an affinity key are spread evenly over the serving pods",
    feature="load-balancing",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by",),
    thresholds={"p_value": Threshold(MIN_P_VALUE, "ratio")},
    timeouts={"requests": 60.0},
    broken=BrokenMesh("every request hashed on one shared key (content-type)", "DestinationRule", "llm-chat",
                      _one_key),
    run=run,
    false_failure=MIN_P_VALUE,
    false_failure_basis="chi-square test at the stated p-value",
)
