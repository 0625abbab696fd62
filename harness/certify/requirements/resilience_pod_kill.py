"""Pod kill under load: a v1 pod of the primary region is killed while chat
traffic streams; requests that start after the kill succeed (the mesh stops
sending to the dead pod, retrying connection failures), and the pod is back
and ready within the recovery SLO.

Streams in flight on the killed pod at the moment of the kill are lost by
nature (no proxy can move a half-sent answer): they are reported, not judged."""

from __future__ import annotations

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements._resilience import fault_under_load, load_summary, wait_ready
from harness.chaos.actions import kill_pods
from harness.verdict import Check

SELECTOR = "app=llm-chat,version=v1,pool=standard,region=us-east"
USERS = 12
MIN_REQUESTS_AFTER = 60


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    selector = ctx.fault.get("selector", SELECTOR)
    ready_before = sum(p.ready for p in ctx.target.list_pods(selector))
    with fault_under_load(ctx, "chat_stream", USERS, ctx.timeout("load"), ctx.timeout("warmup")) as (run, _):
        kill_pods(selector, count=None if "percent" in ctx.fault else 1, percent=ctx.fault.get("percent"),
                  configuration={**ctx.chaos_configuration, **ctx.fault.get("configuration", {})})
        recovered = wait_ready(ctx, selector, ready_before, run.fault_start, ctx.timeout("recover"))
    ctx.mark("pod ready again", None if recovered is None else run.fault_start + recovered)
    after = run.records[run.records["t"] > run.fault_start + ctx.timeout("in_flight")]
    ctx.evidence.json("load", {**load_summary(run), "recovered_after_s": recovered,
                               "errors_after": after[~after["ok"].astype(bool)]["error"].value_counts().to_dict()})
    availability = float(after["ok"].mean()) if len(after) else None
    return [
        Check.judge(rid, "availability of requests started after the kill", availability, ">=",
                    ctx.threshold("availability"), "", samples=len(after), min_samples=MIN_REQUESTS_AFTER,
                    evidence=run.evidence),
        Check.judge(rid, "time until the pod is ready again", recovered, "<=", ctx.threshold("recover"), "s",
                    evidence=run.evidence),
    ]


REQUIREMENT = Requirement(
    id="resilience.pod-kill",
    title="Pod kill under load: new requests keep succeeding, the pod is back within the recovery SLO",
    feature="resilience",
    kind="resilience",
    profiles=frozenset({"smoke", "full"}),
    observes=("served-by", "ready-replicas", "fault-window"),
    thresholds={"availability": Threshold(0.99, "ratio", slo="chat.availability"),
                "recover": Threshold(30.0, "s", slo="chat.max_time_to_recover")},
    timeouts={"load": 25.0, "warmup": 6.0, "recover": 60.0, "in_flight": 0.5},
    # The local control plane removes a dead pod from the mesh's endpoints at
    # once (as EDS does), so one killed pod of two is absorbed with or without
    # retries; killing every v1 pod at once is a fault no mesh absorbs.
    broken=BrokenMesh("every v1 pod killed at once (80 % of the catch-all's traffic has nowhere to go)",
                      fault={"selector": "app=llm-chat,version=v1,pool=standard", "percent": 100,
                             "configuration": {"harness_max_blast_percent": 100}}),
    run=run,
    peak_streams=USERS,
    weight=3,
)
