"""The local HPA as an `autoscaling/v2` HorizontalPodAutoscaler object, both
ways: what the orchestrator's admin API serves and accepts, so a chaos action
or a certification's broken variant edits an HPA with the same object on
both targets (one vocabulary, two targets).

The local controller models one Pods metric with an AverageValue target, the
stabilization windows and `selectPolicy` of each direction, and the default
scaling policies; an object asking for more (several metrics, Resource or
External metrics, custom policies) is refused with the field that cannot be
honoured, rather than half applied. Pure: no sockets.
"""

from __future__ import annotations

from typing import Any

from kubernetes.utils import parse_quantity

from harness.localstack.topology import HPA

__all__ = ["HPAObjectError", "to_object", "from_object"]


class HPAObjectError(ValueError):
    """An HPA object the local stack cannot honour; the message names the field."""


def _quantity(value: float) -> str:
    """A Kubernetes quantity: whole numbers plain, fractions in milli-units."""
    return f"{value:g}" if float(value).is_integer() else f"{round(value * 1000)}m"


def to_object(spec: HPA, namespace: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    """The autoscaling/v2 object for `spec`; `status` (currentReplicas,
    desiredReplicas, currentAverageValue, lastScaleTime) fills its status."""
    behavior = spec.behavior
    obj: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": spec.name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.deployment},
            "minReplicas": spec.min_replicas,
            "maxReplicas": spec.max_replicas,
            "metrics": [{"type": "Pods", "pods": {
                "metric": {"name": spec.metric},
                "target": {"type": "AverageValue", "averageValue": _quantity(spec.target_average_value)}}}],
            "behavior": {
                direction: {"stabilizationWindowSeconds": round(rules.stabilization_window),
                            "selectPolicy": rules.select_policy}
                for direction, rules in (("scaleUp", behavior.scale_up), ("scaleDown", behavior.scale_down))},
        },
    }
    if status is not None:
        current = status.get("currentAverageValue")
        obj["status"] = {
            "currentReplicas": status.get("currentReplicas"),
            "desiredReplicas": status.get("desiredReplicas"),
            "currentMetrics": [] if current is None else [{"type": "Pods", "pods": {
                "metric": {"name": spec.metric}, "current": {"averageValue": _quantity(current)}}}],
        }
        if status.get("lastScaleTime") is not None:
            obj["status"]["lastScaleTime"] = status["lastScaleTime"]
    return obj


def _at(obj: Any, path: str) -> Any:
    for key in path.split("."):
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def from_object(obj: Any, current: HPA) -> HPA:
    """The local HPA an autoscaling/v2 object asks for, in place of `current`
    (same name and target; the sync period and tolerance are the controller
    manager's flags, so they stay). Raises HPAObjectError naming the field."""
    if not isinstance(obj, dict) or obj.get("kind") != "HorizontalPodAutoscaler":
        raise HPAObjectError("kind: must be HorizontalPodAutoscaler (apiVersion autoscaling/v2)")
    name = _at(obj, "metadata.name")
    if name not in (None, current.name):
        raise HPAObjectError(f"metadata.name: {name!r} is not {current.name!r} (an update cannot rename)")
    target = _at(obj, "spec.scaleTargetRef.name")
    if target != current.deployment:
        raise HPAObjectError(f"spec.scaleTargetRef.name: {target!r}: the local HPA scales {current.deployment!r}")
    metrics = _at(obj, "spec.metrics")
    if not isinstance(metrics, list) or len(metrics) != 1 or _at(metrics[0], "type") != "Pods" \
            or _at(metrics[0], "pods.target.type") != "AverageValue":
        raise HPAObjectError("spec.metrics: the local controller models exactly one Pods metric "
                             "with an AverageValue target")
    try:
        average = float(parse_quantity(_at(metrics[0], "pods.target.averageValue")))  # type: ignore[no-untyped-call]
    except (ValueError, TypeError):
        raise HPAObjectError("spec.metrics[0].pods.target.averageValue: not a Kubernetes quantity") from None
    behavior: dict[str, Any] = {}
    for direction in ("scaleUp", "scaleDown"):
        rules = _at(obj, f"spec.behavior.{direction}") or {}
        if rules.get("policies"):
            raise HPAObjectError(f"spec.behavior.{direction}.policies: custom policies are not modelled "
                                 "(the defaults are); leave them out")
        # omitted: Kubernetes' defaults (scale up at once, down after 300 s)
        behavior[direction] = {
            "stabilizationWindow": rules.get("stabilizationWindowSeconds", 0 if direction == "scaleUp" else 300),
            "selectPolicy": rules.get("selectPolicy", "Max")}
    try:
        return HPA.model_validate({
            "name": current.name, "deployment": current.deployment,
            "minReplicas": _at(obj, "spec.minReplicas") or 1, "maxReplicas": _at(obj, "spec.maxReplicas"),
            "metric": _at(metrics[0], "pods.metric.name"), "targetAverageValue": average,
            "tolerance": current.tolerance, "syncPeriod": current.sync_period, "behavior": behavior})
    except ValueError as exc:
        raise HPAObjectError(f"spec: {exc}") from None
