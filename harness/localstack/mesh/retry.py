"""Envoy's retry policy as Istio configures it, and fault-injection draws. Pure."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from harness.istio.base import seconds
from harness.istio.virtual_service import HTTPFaultInjection, HTTPRetry

__all__ = ["Failure", "RetryPolicy", "DEFAULT_RETRY_ON", "fault_draw", "FaultDraw", "IstioVersion", "ISTIO"]

# Istio's policy when a route has no `retries` (route/retry/retry.go).
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
DEFAULT_ATTEMPTS = 2


@dataclass(frozen=True)
class IstioVersion:
    """The Istio release whose version-dependent defaults the mesh follows."""

    minor: int  # 1.<minor>

    @classmethod
    def parse(cls, text: str) -> IstioVersion:
        major, _, minor = text.partition(".")
        if major != "1" or not minor.isdigit():
            raise ValueError(f"an Istio version is '1.<minor>', e.g. '1.30', not {text!r}")
        return cls(int(minor))

    def __str__(self) -> str:
        return f"1.{self.minor}"


ISTIO = IstioVersion(30)  # the release the double follows by default


class Failure(Enum):
    """How an attempt ended without a usable response."""

    CONNECT = "connect failure"  # Envoy: UF
    RESET = "connection termination"  # reset after the request was sent: UC
    PER_TRY_TIMEOUT = "per try timeout"  # UT on the last try
    OVERFLOW = "overflow"  # UO


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = DEFAULT_ATTEMPTS
    retry_on: frozenset[str] = frozenset(DEFAULT_RETRY_ON.split(","))
    codes: frozenset[int] = frozenset()
    per_try_timeout: float | None = None
    ignore_previous_hosts: bool = True
    backoff_base: float = 0.025

    @classmethod
    def from_route(cls, retries: HTTPRetry | None, consistent_hash: bool = False,
                   istio: IstioVersion = ISTIO) -> RetryPolicy:
        """Pilot's retry.ConvertPolicy for the given Istio version.
        `consistent_hash`: the route has one destination and it hashes; since
        1.23 such a route gets no previous-hosts predicate (so Envoy's ring
        hash picks the same host again), and since 1.26 `retryIgnorePreviousHosts`
        overrides that either way. Before 1.24 the default policy also retries
        a 503 response."""
        predicate = not (consistent_hash and istio.minor >= 23)
        if retries is not None and retries.retryIgnorePreviousHosts is not None and istio.minor >= 26:
            predicate = retries.retryIgnorePreviousHosts
        default_codes = frozenset({503}) if istio.minor < 24 else frozenset()
        if retries is None:
            return cls(codes=default_codes, ignore_previous_hosts=predicate)
        if retries.attempts <= 0:
            return cls(attempts=0, retry_on=frozenset())  # an explicit "no retry policy"
        policies, codes = set(), set()
        for part in (retries.retryOn or "").split(","):
            part = part.strip()
            if not part:
                continue
            if part.isdigit():
                codes.add(int(part))
                policies.add("retriable-status-codes")
            else:
                policies.add(part)
        if not policies:  # retryOn unset: the default conditions (and codes) stay
            policies, codes = set(DEFAULT_RETRY_ON.split(",")), set(default_codes)
        if istio.minor < 23:
            policies.discard("reset-before-request")  # unknown to pilot before 1.23
        return cls(attempts=retries.attempts, retry_on=frozenset(policies), codes=frozenset(codes),
                   per_try_timeout=seconds(retries.perTryTimeout), ignore_previous_hosts=predicate,
                   backoff_base=seconds(retries.backoff, 0.025) or 0.025)

    def retriable_failure(self, failure: Failure) -> bool:
        on = self.retry_on
        if failure is Failure.OVERFLOW:
            return False  # Envoy never retries an overflow
        if failure is Failure.CONNECT:
            return bool(on & {"connect-failure", "5xx", "gateway-error", "reset", "reset-before-request"})
        if failure is Failure.RESET:
            return bool(on & {"reset", "5xx", "gateway-error"})
        return bool(on & {"5xx", "gateway-error", "reset"})  # per-try timeout

    def retriable_status(self, status: int, headers: dict[str, str]) -> bool:
        if headers.get("x-envoy-overloaded") == "true":
            return False
        on = self.retry_on
        if "5xx" in on and status >= 500:
            return True
        if "gateway-error" in on and status in (502, 503, 504):
            return True
        if "retriable-4xx" in on and status == 409:
            return True
        if "retriable-status-codes" in on and status in self.codes:
            return True
        if "envoy-ratelimited" in on and headers.get("x-envoy-ratelimited") is not None:
            return True
        return False

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Envoy's fully jittered exponential back-off, capped at 10x the base."""
        ceiling = min(self.backoff_base * (2 ** (retry_number - 1)), 10 * self.backoff_base)
        return rng.uniform(0, ceiling)


@dataclass(frozen=True)
class FaultDraw:
    delay_s: float | None = None
    abort_status: int | None = None


def fault_draw(fault: HTTPFaultInjection | None, rng: random.Random) -> FaultDraw:
    """Delay and abort are drawn independently; a missing percentage faults nothing."""
    if fault is None:
        return FaultDraw()
    delay = abort = None
    if fault.delay is not None:
        pct = fault.delay.percentage.value if fault.delay.percentage else fault.delay.percent
        if pct and rng.random() * 100 < pct:
            delay = seconds(fault.delay.fixedDelay)
    if fault.abort is not None and fault.abort.percentage and fault.abort.httpStatus:
        if rng.random() * 100 < fault.abort.percentage.value:
            abort = fault.abort.httpStatus
    return FaultDraw(delay, abort)
