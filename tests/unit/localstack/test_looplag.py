"""The lag gauge: the largest lag of the last second, from a loop timer."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from harness.localstack.looplag import LAG_METRIC, LagWindow, SelfMetrics


def test_the_window_keeps_the_largest_lag_of_the_last_second() -> None:
    w = LagWindow(window_s=1.0)
    assert w.add(0.0, 0.002) == 0.002
    assert w.add(0.5, 0.200) == 0.200
    assert w.add(1.2, 0.001) == 0.200  # the 0.5 s sample is still inside
    assert w.add(1.6, 0.003) == 0.003  # it has left the window
    assert w.add(1.7, -0.001) == 0.003  # a timer firing early is no negative lag


def test_a_blocked_loop_shows_as_lag_with_the_process_cpu_beside_it() -> None:
    registry = CollectorRegistry()
    metrics = SelfMetrics(registry, "mesh", "mesh", interval_s=0.02)

    def lag() -> float:
        value = registry.get_sample_value(LAG_METRIC, {"component": "mesh", "pod": "mesh"})
        assert value is not None
        return value

    async def run() -> tuple[float, float]:
        metrics.start()
        await asyncio.sleep(0.1)
        idle = lag()
        time.sleep(0.15)  # the loop is blocked, as by a burst it cannot keep up with
        await asyncio.sleep(0.05)
        blocked = lag()
        await metrics.stop()
        return idle, blocked

    idle, blocked = asyncio.run(run())
    assert blocked >= 0.12 and idle < blocked
    assert registry.get_sample_value("process_cpu_seconds_total") is not None
