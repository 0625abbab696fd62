"""The local stack's own lag decides whether its latency verdicts can be trusted."""

from __future__ import annotations

import math

import pytest

from harness.localstack.selfcheck import LAG_BOUND_S, lag_query, stack_lag_verdict


def test_lag_within_the_bound_vouches_for_the_stack() -> None:
    ok, reason = stack_lag_verdict(0.004, 0.050)
    assert ok and "within 50 ms" in reason and "4.0 ms" in reason
    assert stack_lag_verdict(0.050, 0.050)[0]  # the bound itself is still within


def test_lag_above_the_bound_names_it_and_how_to_lower_the_load() -> None:
    ok, reason = stack_lag_verdict(0.180, 0.050)
    assert not ok
    assert "180 ms" in reason and "bound 50 ms" in reason and "--users" in reason


@pytest.mark.parametrize("lag", [None, math.nan])
def test_unobserved_lag_cannot_vouch(lag: float | None) -> None:
    ok, reason = stack_lag_verdict(lag, 0.050)
    assert not ok and "not observed" in reason


@pytest.mark.parametrize("bound", [0.0, -1.0, math.nan, math.inf])
def test_a_meaningless_bound_is_refused(bound: float) -> None:
    with pytest.raises(ValueError, match="bound_s"):
        stack_lag_verdict(0.01, bound)


def test_the_default_bound_is_the_documented_one() -> None:
    assert LAG_BOUND_S == 0.050
    assert stack_lag_verdict(0.049)[0] and not stack_lag_verdict(0.051)[0]


def test_the_window_query_covers_every_process_of_the_stack() -> None:
    assert lag_query(90.2) == "max(max_over_time(localstack_event_loop_lag_seconds[91s]))"
    assert lag_query(0.2) == "max(max_over_time(localstack_event_loop_lag_seconds[1s]))"
    with pytest.raises(ValueError, match="window_s"):
        lag_query(0)
