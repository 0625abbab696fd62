"""The Kubernetes HorizontalPodAutoscaler algorithm, as pure functions.

Follows `pkg/controller/podautoscaler/replica_calculator.go` and
`horizontal.go` for a Pods/AverageValue metric:

- usage ratio = average metric of ready pods with metrics / target;
- within the tolerance (10%) nothing changes;
- pods without metrics count as the target when scaling down and as 0 when
  scaling up; unready pods count as 0 when scaling up; if accounting for
  them flips the direction or lands inside the tolerance, nothing changes;
- recommendations are stabilized: scale-down uses the highest recommendation
  of the scale-down window, scale-up the lowest of the scale-up window;
- the result is clamped to [minReplicas, maxReplicas] and scale-up is limited
  by the default policies (4 pods or 100% per period, whichever allows more);
- `selectPolicy: Disabled` turns a direction off.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["PodMetric", "HPAState", "calculate_replicas", "stabilize", "clamp_scale_up", "HPAController"]


@dataclass(frozen=True)
class PodMetric:
    """What the controller knows about one pod of the target."""

    ready: bool
    value: float | None  # None: no metric scraped from this pod


def calculate_replicas(
    current_replicas: int, pods: Sequence[PodMetric], target: float, tolerance: float = 0.1
) -> int:
    """Desired replica count before stabilization and bounds (replica_calculator.go)."""
    if target <= 0:
        raise ValueError("target must be positive")
    with_metric = [p.value for p in pods if p.ready and p.value is not None]
    missing = sum(1 for p in pods if p.ready and p.value is None)
    unready = sum(1 for p in pods if not p.ready)
    if not with_metric:
        # No data at all: Kubernetes refuses to act rather than guess.
        return current_replicas
    usage_ratio = (sum(with_metric) / len(with_metric)) / target
    if missing == 0 and unready == 0:
        if abs(usage_ratio - 1.0) <= tolerance:
            return current_replicas
        return math.ceil(usage_ratio * len(with_metric))

    scale_up = usage_ratio > 1.0
    values = list(with_metric)
    if missing:
        values += [0.0 if scale_up else target] * missing
    if scale_up and unready:
        values += [0.0] * unready
    new_ratio = (sum(values) / len(values)) / target
    if abs(new_ratio - 1.0) <= tolerance or (usage_ratio > 1.0) != (new_ratio > 1.0):
        return current_replicas
    desired = math.ceil(new_ratio * len(values))
    if (scale_up and desired < current_replicas) or (not scale_up and desired > current_replicas):
        return current_replicas
    return desired


def stabilize(
    history: Sequence[tuple[float, int]], now: float, recommendation: int, current: int,
    up_window: float, down_window: float,
) -> int:
    """Apply stabilization windows (horizontal.go `stabilizeRecommendationWithBehaviors`).

    `history` holds earlier (time, recommendation) pairs.
    """
    up_floor = recommendation
    down_ceiling = recommendation
    for t, rec in history:
        if now - t <= up_window:
            up_floor = min(up_floor, rec)
        if now - t <= down_window:
            down_ceiling = max(down_ceiling, rec)
    if recommendation > current:
        return max(current, up_floor)
    if recommendation < current:
        return min(current, down_ceiling)
    return current


def clamp_scale_up(current: int, desired: int) -> int:
    """Default scale-up policies: +4 pods or +100% per period, the larger."""
    return min(desired, max(current + 4, current * 2))


@dataclass
class HPAState:
    current_replicas: int
    desired_replicas: int
    last_metric_average: float | None = None
    last_scale_time: float | None = None


@dataclass
class HPAController:
    """One HPA's decision loop; time is passed in so tests drive it without sleeping."""

    min_replicas: int
    max_replicas: int
    target: float
    tolerance: float = 0.1
    scale_up_window: float = 0.0
    scale_down_window: float = 300.0
    # selectPolicy: Disabled for a direction: the HPA never moves that way
    scale_up_disabled: bool = False
    scale_down_disabled: bool = False
    history: deque[tuple[float, int]] = field(default_factory=deque)

    def decide(self, now: float, current_replicas: int, pods: Sequence[PodMetric]) -> int:
        """The replica count to set now."""
        raw = calculate_replicas(current_replicas, pods, self.target, self.tolerance)
        raw = max(self.min_replicas, min(self.max_replicas, raw))
        keep = max(self.scale_up_window, self.scale_down_window)
        while self.history and now - self.history[0][0] > keep:
            self.history.popleft()
        stabilized = stabilize(self.history, now, raw, current_replicas,
                               self.scale_up_window, self.scale_down_window)
        self.history.append((now, raw))
        if (stabilized > current_replicas and self.scale_up_disabled) or (
                stabilized < current_replicas and self.scale_down_disabled):
            stabilized = current_replicas
        if stabilized > current_replicas:
            stabilized = clamp_scale_up(current_replicas, stabilized)
        return max(self.min_replicas, min(self.max_replicas, stabilized))
