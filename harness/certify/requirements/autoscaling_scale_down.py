"""HPA scale-down: once the queue has drained, the HPA returns the primary
pool to its minimum within its own scale-down stabilization window plus a
margin (GPU replicas are the cost of the mesh: a pool that never shrinks
burns them). The queue is first driven up, as for the scale-up requirement.

In `full` only: it waits out the stabilization window (30 s on the local
stack, 300 s in the reference Kubernetes manifests)."""

from __future__ import annotations

from typing import Any

from harness.analysis.autoscaling import first_time, last_time
from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements._autoscaling import HPA, STREAMS, queue_load
from harness.verdict import Check, Verdict

NAME = "time back to minReplicas after the queue drained"


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    scale = queue_load(ctx)
    hpa, samples, evidence = scale.hpa, scale.samples, scale.evidence
    bound = hpa.scale_down_window_s + ctx.threshold("margin")
    scaled = scale.first_scaled
    if scale.first_over is None or scaled is None:
        return [Check(rid, NAME, Verdict.INCONCLUSIVE, None, bound, "s",
                      "the HPA never scaled up under the load, so there was nothing to scale down "
                      "(see autoscaling.hpa-scale-up)", evidence)]
    drained = last_time(samples, scale.over)
    assert drained is not None  # first_over is set
    back = first_time(samples, samples["desired"] <= hpa.min_replicas, after=max(drained, scaled))
    ctx.mark("back to minReplicas", back)
    if back is None:
        watched = float(samples["t"].max()) - drained
        return [Check(rid, NAME, Verdict.FAIL, watched, bound, "s",
                      f"the HPA still wanted {int(samples['desired'].iloc[-1])} replicas {watched:.0f} s after the "
                      f"queue drained (stabilization window {hpa.scale_down_window_s:g} s)", evidence)]
    return [Check.judge(rid, NAME, back - drained, "<=", bound, "s", evidence=evidence)]


def scale_down_disabled(hpa: dict[str, Any]) -> dict[str, Any]:
    behavior = hpa["spec"].setdefault("behavior", {})
    behavior.setdefault("scaleDown", {})["selectPolicy"] = "Disabled"
    return hpa


REQUIREMENT = Requirement(
    id="autoscaling.hpa-scale-down",
    title="The HPA returns the pool to its minimum within its stabilization window once the queue drains",
    feature="autoscaling",
    profiles=frozenset({"full"}),
    why_not_smoke="waits out the HPA's scale-down stabilization window (30 s locally, 300 s on the cluster)",
    observes=("ready-replicas",),
    # beyond the window: the controller's sync period and the metrics pipeline's lag
    thresholds={"margin": Threshold(30.0, "s")},
    # settle: how long beyond the HPA's scale-down window to wait for its minimum
    timeouts={"client": 120.0, "scale_up": 60.0, "settle": 60.0},
    broken=BrokenMesh(f"scale-down disabled on the {HPA!r} HPA (behavior.scaleDown.selectPolicy: Disabled)",
                      "HorizontalPodAutoscaler", HPA, scale_down_disabled),
    run=run,
    peak_streams=STREAMS,
)
