"""User counts over time for the load shapes (pure arithmetic)."""

from __future__ import annotations

import pytest

from harness.load.schedules import diurnal_users, soak_users, spike_users, step_users


def test_step_increments_at_each_step_time() -> None:
    f = lambda t: step_users(t, start=5, step=10, step_time=30, maximum=1000)  # noqa: E731
    assert f(0) == 5
    assert f(29.999) == 5
    assert f(30) == 15
    assert f(59.9) == 15
    assert f(60) == 25
    assert f(300) == 105


def test_step_caps_at_maximum() -> None:
    f = lambda t: step_users(t, start=10, step=20, step_time=10, maximum=45)  # noqa: E731
    assert [f(t) for t in (0, 10, 20, 30, 1000)] == [10, 30, 45, 45, 45]


def test_step_is_monotonic() -> None:
    values = [step_users(t / 10, 1, 3, 7.5, 50) for t in range(0, 2000)]
    assert values == sorted(values)
    assert values[0] == 1 and values[-1] == 50


def test_spike_window_boundaries() -> None:
    f = lambda t: spike_users(t, base=10, peak=200, spike_at=60, spike_length=30)  # noqa: E731
    assert f(0) == 10
    assert f(59.999) == 10
    assert f(60) == 200  # start inclusive
    assert f(75) == 200
    assert f(89.999) == 200
    assert f(90) == 10  # end exclusive
    assert f(1000) == 10


def test_soak_ramps_linearly_then_stays() -> None:
    f = lambda t: soak_users(t, users=100, ramp=50)  # noqa: E731
    assert f(10) == 20
    assert f(25) == 50
    assert f(37.5) == 75
    assert f(50) == 100
    assert f(51) == 100
    assert f(10_000) == 100
    ramp = [f(t) for t in range(0, 51)]
    assert ramp == sorted(ramp)
    assert all(abs(f(t) - 2 * t) <= 1 for t in range(1, 51))


def test_soak_starts_with_at_least_one_user() -> None:
    assert soak_users(0, users=100, ramp=60) == 1
    assert soak_users(0.01, users=100, ramp=60) == 1


def test_soak_without_ramp_is_flat() -> None:
    assert soak_users(0, users=40, ramp=0) == 40
    assert soak_users(123, users=40, ramp=0) == 40


def test_diurnal_low_high_low() -> None:
    f = lambda t: diurnal_users(t, low=10, high=110, period=600)  # noqa: E731
    assert f(0) == 10
    assert f(150) == 60  # a quarter period: half way
    assert f(300) == 110  # the peak at period/2
    assert f(450) == 60
    assert f(600) == 10
    assert f(900) == 110  # periodic


def test_diurnal_rises_then_falls_within_bounds() -> None:
    values = [diurnal_users(t, low=5, high=50, period=100) for t in range(0, 101)]
    assert all(5 <= v <= 50 for v in values)
    assert values[:51] == sorted(values[:51])
    assert values[50:] == sorted(values[50:], reverse=True)
    assert values[25 - 7] == values[75 + 7]  # symmetric around the peak


@pytest.mark.parametrize("t", [0, 12.5, 33, 80])
def test_diurnal_flat_when_low_equals_high(t: float) -> None:
    assert diurnal_users(t, low=20, high=20, period=100) == 20
