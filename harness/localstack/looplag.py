"""The local stack watches itself: each process of the stack (the mesh proxy,
every engine) samples its own event-loop lag and exports it with its CPU time
on /metrics, so a latency verdict can tell the mesh's tail from one the test
double added (see `selfcheck.stack_lag_verdict`).

- `localstack_event_loop_lag_seconds{component, pod}`: the largest lag seen
  over the last second. A loop timer due every `SAMPLE_INTERVAL_S` measures
  how late it runs; a loop busy relaying a burst, or a process waiting for a
  core, shows up as lag.
- `process_cpu_seconds_total` and the other `process_*` series of
  prometheus_client's process collector.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, ProcessCollector

__all__ = ["LAG_METRIC", "SAMPLE_INTERVAL_S", "WINDOW_S", "LagWindow", "SelfMetrics"]

LAG_METRIC = "localstack_event_loop_lag_seconds"
SAMPLE_INTERVAL_S = 0.05
WINDOW_S = 1.0


class LagWindow:
    """The largest of the lag samples taken over the last `window_s`."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, lag: float) -> float:
        """Record a sample taken at `now`; return the window's largest lag."""
        samples = self._samples
        samples.append((now, max(0.0, lag)))
        while samples[0][0] < now - self.window_s:
            samples.popleft()
        return max(sample for _, sample in samples)


class SelfMetrics:
    """The lag gauge and the process collector on a process's registry, and
    the sampling task that keeps the gauge current while the loop runs."""

    def __init__(self, registry: CollectorRegistry, component: str, pod: str,
                 interval_s: float = SAMPLE_INTERVAL_S, clock: Callable[[], float] = time.perf_counter) -> None:
        ProcessCollector(registry=registry)
        self.gauge = Gauge(LAG_METRIC, "Largest event-loop lag of this local-stack process over the last second.",
                           ["component", "pod"], registry=registry).labels(component=component, pod=pod)
        self.gauge.set(0.0)
        self.interval_s = interval_s
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sample(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _sample(self) -> None:
        window, clock = LagWindow(), self.clock
        while True:
            due = clock() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = clock()
            # uvloop's timers round to whole milliseconds: up to 1 ms late is
            # the timer's resolution, not lag
            self.gauge.set(window.add(now, now - due - 0.001))
