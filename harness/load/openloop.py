"""Open-loop load: requests start on a schedule (constant rate or Poisson
arrivals), whether or not earlier ones have finished, and latency is measured
from the intended send time, so a slow target cannot hide its tail behind
fewer requests (no coordinated omission).

Run one such user per process for a total rate of `rate` requests/s (or N
users for N x rate). Arrivals that find `max_in_flight` requests already
running are recorded as failed (`client_saturated`), never silently skipped.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import gevent
from gevent.pool import Group

from harness.load.records import ErrorKind, RequestRecord, now_utc
from harness.load.users import ChatUser, CompletionUser, LLMRequestError, LLMUser

__all__ = ["OpenLoopMixin", "OpenLoopChatUser", "OpenLoopCompletionUser", "arrival_times"]


def arrival_times(kind: str, rate: float, start: float, rng: random.Random) -> Iterator[float]:
    """Intended send times: every 1/rate s, or exponential gaps of mean 1/rate."""
    t = start
    while True:
        yield t
        t += 1.0 / rate if kind == "constant" else rng.expovariate(rate)


class OpenLoopMixin(LLMUser):
    """Mixed in before ChatUser / CompletionUser (see below)."""

    abstract = True
    arrival: ClassVar[Literal["constant", "poisson"]] = "constant"
    rate: ClassVar[float] = 5.0
    max_in_flight: ClassVar[int] = 512

    def __init__(self, environment: Any) -> None:
        # requests overlap: the user's connection pool must hold as many as may be in flight
        self.concurrency = self.max_in_flight
        super().__init__(environment)

    def on_start(self) -> None:
        super().on_start()
        self._flights = Group()

    def on_stop(self) -> None:
        self._flights.kill(block=False)
        super().on_stop()

    def step(self) -> None:
        """The arrival loop: runs until Locust stops the user."""
        rng = random.Random(f"arrivals-{self.seed}-{self.number}")
        for intended in arrival_times(self.arrival, self.rate, time.perf_counter(), rng):
            delay = intended - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
            if len(self._flights) >= self.max_in_flight:
                self._saturated()
                continue
            self._flights.spawn(self.call, self.build_body(), intended)

    def _saturated(self) -> None:
        rec = RequestRecord(start=now_utc(), scenario=self.scenario or type(self).__name__, api=self.api,
                            stream=self.stream, model_requested=self.model, tier="-", error_kind=ErrorKind.CLIENT_SATURATED.value,
                            error=f"{self.max_in_flight} requests already in flight", latency_origin="intended")
        self.environment.events.request.fire(
            request_type="POST", name=self.request_name(), response_time=0, response_length=0,
            exception=LLMRequestError(f"{rec.error_kind}: {rec.error}"), context={"record": rec})


class OpenLoopChatUser(OpenLoopMixin, ChatUser):
    abstract = True


class OpenLoopCompletionUser(OpenLoopMixin, CompletionUser):
    abstract = True
