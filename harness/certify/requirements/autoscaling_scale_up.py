"""HPA scale-up on queue growth: when streaming chat load makes the primary
pool's engines queue (vllm:num_requests_waiting above the HPA's target), the
HPA asks for more replicas within the scale-up budget, the added pods turn
ready and take traffic, and no request fails while the pool grows.

A load that never raised the queue above the target says nothing about the
HPA: that is inconclusive (the pool served every stream at once), not a pass."""

from __future__ import annotations

from typing import Any

from harness.analysis.autoscaling import first_time
from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements._autoscaling import HPA, STREAMS, queue_load
from harness.verdict import Check, Verdict

MIN_REQUESTS = 100


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    scale = queue_load(ctx)
    hpa, samples, evidence = scale.hpa, scale.samples, scale.evidence
    records = scale.records
    availability = float(records["ok"].mean()) if len(records) else None
    served = Check.judge(rid, "availability while the pool scales", availability, ">=",
                         ctx.threshold("availability"), "", samples=len(records), min_samples=MIN_REQUESTS,
                         evidence=evidence)
    over, scaled = scale.first_over, scale.first_scaled
    if over is None:
        why = (f"{STREAMS} streams never raised the HPA's metric above its target ({hpa.target:g} per pod): "
               "the pool served them all at once, so the HPA was not put to the test")
        return [served, Check(rid, "time to scale up after the queue grew", Verdict.INCONCLUSIVE, None,
                              ctx.threshold("scale_up"), "s", why, evidence)]
    if scaled is None:
        watched = float(samples["t"].max()) - over
        up = Check(rid, "time to scale up after the queue grew", Verdict.FAIL, watched, ctx.threshold("scale_up"),
                   "s", f"the HPA never asked for more than {hpa.min_replicas} replicas (maxReplicas "
                   f"{hpa.max_replicas}) though its metric stood above the target for {watched:.0f} s", evidence)
        return [served, up]
    up = Check.judge(rid, "time to scale up after the queue grew", max(0.0, scaled - over), "<=",
                     ctx.threshold("scale_up"), "s", evidence=evidence)
    wanted = int(samples["desired"].max())
    ready_at = first_time(samples, samples["ready"] >= scale.ready_before + wanted - hpa.min_replicas, after=scaled)
    name = f"time until the {wanted - hpa.min_replicas} added pod(s) are ready"
    if ready_at is None:
        ready = Check(rid, name, Verdict.FAIL, None, ctx.threshold("ready"), "s",
                      f"the HPA asked for {wanted} replicas; the added pods were not all ready within the run",
                      evidence)
    else:
        ready = Check.judge(rid, name, ready_at - scaled, "<=", ctx.threshold("ready"), "s", evidence=evidence)
    return [served, up, ready]


def capped(hpa: dict[str, Any]) -> dict[str, Any]:
    hpa["spec"]["maxReplicas"] = hpa["spec"].get("minReplicas", 1)
    return hpa


REQUIREMENT = Requirement(
    id="autoscaling.hpa-scale-up",
    title="The HPA adds replicas when the inference queue grows, and they turn ready while requests keep succeeding",
    feature="autoscaling",
    profiles=frozenset({"smoke", "full"}),
    observes=("ready-replicas",),
    # a cluster's HPA syncs every 15 s behind a metrics pipeline that scrapes every 15-30 s
    thresholds={"scale_up": Threshold(45.0, "s"), "ready": Threshold(60.0, "s"),
                "availability": Threshold(0.99, "ratio", slo="chat.availability")},
    # settle: how long beyond the HPA's scale-down window to wait for its minimum
    timeouts={"client": 120.0, "scale_up": 60.0, "settle": 60.0},
    broken=BrokenMesh(f"maxReplicas lowered to minReplicas on the {HPA!r} HPA (it cannot add a pod)",
                      "HorizontalPodAutoscaler", HPA, capped),
    run=run,
    peak_streams=STREAMS,
    false_failure=None,
    notes={"load": f"{STREAMS} streaming chat requests held open at once"},
)
