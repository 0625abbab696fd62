"""The HPA arithmetic against the Kubernetes algorithm's documented behaviour."""

import pytest

from harness.localstack.orchestrator.hpa import (
    HPAController,
    PodMetric,
    calculate_replicas,
    clamp_scale_up,
    stabilize,
)


def ready(*values: float) -> list[PodMetric]:
    return [PodMetric(True, v) for v in values]


def test_ratio_scales_up_with_ceiling() -> None:
    # 2 pods averaging 12 waiting against a target of 5: ceil(2 * 12/5) = 5
    assert calculate_replicas(2, ready(10, 14), target=5) == 5


def test_within_tolerance_changes_nothing() -> None:
    assert calculate_replicas(3, ready(5.4, 5.4, 5.4), target=5) == 3  # ratio 1.08
    assert calculate_replicas(3, ready(4.6, 4.6, 4.6), target=5) == 3  # ratio 0.92


def test_just_outside_tolerance_scales() -> None:
    assert calculate_replicas(3, ready(5.6, 5.6, 5.6), target=5) == 4  # ratio 1.12 -> ceil(3.36)


def test_scale_down_when_idle() -> None:
    assert calculate_replicas(4, ready(0, 0, 0, 0), target=5) == 0  # bounds are applied by the controller


def test_missing_metrics_count_as_target_on_scale_down() -> None:
    # ready pods report 0, one pod has no metric: it counts as 5 (the target),
    # average 5/3 -> ratio 0.33 -> ceil(0.33 * 3) = 1
    pods = ready(0, 0) + [PodMetric(True, None)]
    assert calculate_replicas(3, pods, target=5) == 1


def test_missing_metrics_count_as_zero_on_scale_up() -> None:
    # 20 and a missing pod (0): average 10 -> ratio 2 -> ceil(2 * 2) = 4
    pods = ready(20) + [PodMetric(True, None)]
    assert calculate_replicas(2, pods, target=5) == 4


def test_unready_pods_damp_scale_up_and_may_cancel_it() -> None:
    # one ready pod at 6 (ratio 1.2) and three unready ones counted as 0: new ratio 0.3,
    # which flips the direction, so Kubernetes keeps the current count
    pods = ready(6) + [PodMetric(False, None)] * 3
    assert calculate_replicas(4, pods, target=5) == 4


def test_no_metrics_at_all_keeps_current() -> None:
    assert calculate_replicas(3, [PodMetric(True, None)] * 3, target=5) == 3


def test_stabilization_down_uses_window_max() -> None:
    history = [(0.0, 4), (10.0, 3)]
    assert stabilize(history, now=20.0, recommendation=2, current=4, up_window=0, down_window=30) == 4
    # once the high recommendation leaves the window, the next highest counts
    assert stabilize(history, now=35.0, recommendation=2, current=4, up_window=0, down_window=30) == 3


def test_stabilization_up_uses_window_min() -> None:
    history = [(0.0, 2), (5.0, 6)]
    assert stabilize(history, now=8.0, recommendation=6, current=2, up_window=10, down_window=0) == 2
    assert stabilize(history, now=12.0, recommendation=6, current=2, up_window=10, down_window=0) == 6


def test_scale_up_rate_limit() -> None:
    assert clamp_scale_up(1, 20) == 5  # +4 pods beats +100%
    assert clamp_scale_up(10, 40) == 20  # +100% beats +4 pods
    assert clamp_scale_up(2, 3) == 3


def test_controller_clamps_and_stabilizes_over_time() -> None:
    hpa = HPAController(min_replicas=2, max_replicas=4, target=5, scale_down_window=30)
    assert hpa.decide(0.0, 2, ready(50, 50)) == 4  # clamped at max
    assert hpa.decide(1.0, 4, ready(0, 0, 0, 0)) == 4  # scale-down held by the window
    assert hpa.decide(20.0, 4, ready(0, 0, 0, 0)) == 4
    assert hpa.decide(32.0, 4, ready(0, 0, 0, 0)) == 2  # window passed: down to min, not 0


@pytest.mark.parametrize("target", [0, -1])
def test_target_must_be_positive(target: float) -> None:
    with pytest.raises(ValueError):
        calculate_replicas(1, ready(1), target=target)


def test_select_policy_disabled_turns_a_direction_off() -> None:
    busy = [PodMetric(True, 20.0), PodMetric(True, 20.0)]
    idle = [PodMetric(True, 0.0)] * 4
    no_up = HPAController(min_replicas=2, max_replicas=4, target=5, scale_up_disabled=True)
    assert no_up.decide(0.0, 2, busy) == 2
    no_down = HPAController(min_replicas=2, max_replicas=4, target=5, scale_down_window=0, scale_down_disabled=True)
    assert no_down.decide(0.0, 4, idle) == 4
    assert no_down.decide(1.0, 2, busy) == 4  # the other direction still acts
