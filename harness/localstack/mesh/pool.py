"""A cluster's connection-pool circuit breaker: Envoy's limits on active and
pending requests and on concurrent retries."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from harness.istio.destination_rule import ConnectionPoolSettings

__all__ = ["PoolLimits", "ConnectionPool", "Overflow"]

UNLIMITED = 2 ** 32 - 1


class Overflow(Exception):
    """The circuit breaker is open: Envoy answers 503 with x-envoy-overloaded."""


@dataclass(frozen=True)
class PoolLimits:
    max_active: int = UNLIMITED  # min(tcp.maxConnections, http.http2MaxRequests): HTTP/1.1 uses one connection per request
    max_pending: int = UNLIMITED  # http.http1MaxPendingRequests
    max_retries: int = UNLIMITED  # http.maxRetries (Istio lifts Envoy's default of 3)

    @classmethod
    def from_policy(cls, cp: ConnectionPoolSettings | None) -> PoolLimits:
        if cp is None:
            return cls()
        tcp, http = cp.tcp, cp.http
        active = min(v for v in ((tcp.maxConnections if tcp else None), (http.http2MaxRequests if http else None),
                                 UNLIMITED) if v)
        pending = http.http1MaxPendingRequests if http and http.http1MaxPendingRequests else UNLIMITED
        retries = http.maxRetries if http and http.maxRetries else UNLIMITED
        return cls(max_active=active, max_pending=pending, max_retries=retries)


class ConnectionPool:
    def __init__(self, limits: PoolLimits) -> None:
        self.limits = limits
        self.active = 0
        self.retries = 0
        self.overflows = 0
        self._pending: deque[asyncio.Future] = deque()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def acquire(self) -> None:
        """Take an active slot, waiting as a pending request if the pool is full;
        raise Overflow when the pending queue is full too."""
        if self.active < self.limits.max_active and not self._pending:
            self.active += 1
            return
        if len(self._pending) >= self.limits.max_pending:
            self.overflows += 1
            raise Overflow()
        fut = asyncio.get_running_loop().create_future()
        self._pending.append(fut)
        try:
            await fut  # release() hands its slot over
        except BaseException:
            if fut in self._pending:
                self._pending.remove(fut)
            elif fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            raise

    def release(self) -> None:
        while self._pending:
            fut = self._pending.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.active -= 1

    def try_retry(self) -> bool:
        if self.retries >= self.limits.max_retries:
            self.overflows += 1
            return False
        self.retries += 1
        return True

    def retry_done(self) -> None:
        self.retries -= 1
