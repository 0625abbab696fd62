"""Load shapes (Locust `LoadTestShape`): steady, step, spike, soak, diurnal.
Each is a pure function of elapsed time (`users_at`) wrapped in a shape class
whose parameters are class attributes, so a locustfile tunes one by
subclassing."""

from __future__ import annotations

from typing import ClassVar

from locust import LoadTestShape

from harness.load.schedules import diurnal_users, soak_users, spike_users, step_users

__all__ = ["SteadyShape", "StepShape", "SpikeShape", "SoakShape", "DiurnalShape"]


class _Shape(LoadTestShape):
    abstract = True
    duration: ClassVar[float] = 60.0
    spawn_rate: ClassVar[float] = 10.0

    def users_at(self, t: float) -> int:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        t: float = self.get_run_time()  # type: ignore[no-untyped-call]  # Locust's method is untyped
        if t >= self.duration:
            return None
        return self.users_at(t), self.spawn_rate


class SteadyShape(_Shape):
    abstract = True
    users: ClassVar[int] = 10

    def users_at(self, t: float) -> int:
        return self.users


class StepShape(_Shape):
    """`start` users, `step` more every `step_time` seconds, up to `maximum`."""

    abstract = True
    start: ClassVar[int] = 5
    step: ClassVar[int] = 5
    step_time: ClassVar[float] = 10.0
    maximum: ClassVar[int] = 50

    def users_at(self, t: float) -> int:
        return step_users(t, self.start, self.step, self.step_time, self.maximum)


class SpikeShape(_Shape):
    """`base` users, `peak` users between `spike_at` and `spike_at + spike_length`."""

    abstract = True
    base: ClassVar[int] = 5
    peak: ClassVar[int] = 50
    spike_at: ClassVar[float] = 20.0
    spike_length: ClassVar[float] = 10.0
    spawn_rate = 100.0

    def users_at(self, t: float) -> int:
        return spike_users(t, self.base, self.peak, self.spike_at, self.spike_length)


class SoakShape(_Shape):
    """A long steady load after a ramp: leaks and slow drifts show up here."""

    abstract = True
    users: ClassVar[int] = 20
    ramp: ClassVar[float] = 30.0
    duration = 3600.0

    def users_at(self, t: float) -> int:
        return soak_users(t, self.users, self.ramp)


class DiurnalShape(_Shape):
    """A day compressed into `period` seconds: a sine between `low` and `high`
    users, starting at the trough."""

    abstract = True
    low: ClassVar[int] = 2
    high: ClassVar[int] = 30
    period: ClassVar[float] = 120.0
    duration = 240.0

    def users_at(self, t: float) -> int:
        return diurnal_users(t, self.low, self.high, self.period)
