"""A cluster's circuit breakers as Istio's connectionPool sets them: Envoy's
limits on connections, active requests, pending requests and concurrent
retries.

An HTTP/1.1 connection carries one request at a time (idle keep-alive
connections wait in the cluster's `upstream.UpstreamConnections`), so active
requests and busy connections count the same thing; the two limits still act
differently
(Envoy's ConnPoolImplBase, source/common/conn_pool/conn_pool_base.cc):
- a request that finds no free connection waits as *pending*, up to
  `http1MaxPendingRequests` (`newStreamImpl`), and beyond that overflows;
- `http2MaxRequests` is checked when a request is attached to a connection
  (`attachStreamToClient`): at the limit the request fails at once, it never
  queues.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from harness.istio.destination_rule import ConnectionPoolSettings

__all__ = ["PoolLimits", "ConnectionPool", "Overflow", "UNLIMITED"]

UNLIMITED = 2 ** 32 - 1  # Istio's default for every threshold


class Overflow(Exception):
    """The circuit breaker is open: Envoy answers 503 with x-envoy-overloaded."""


@dataclass(frozen=True)
class PoolLimits:
    max_connections: int = UNLIMITED  # tcp.maxConnections
    max_requests: int = UNLIMITED  # http.http2MaxRequests (every protocol, despite the name)
    max_pending: int = UNLIMITED  # http.http1MaxPendingRequests
    max_retries: int = UNLIMITED  # http.maxRetries (Istio lifts Envoy's default of 3)

    @classmethod
    def from_policy(cls, cp: ConnectionPoolSettings | None) -> PoolLimits:
        if cp is None:
            return cls()
        tcp, http = cp.tcp, cp.http
        # as pilot's applyConnectionPool: a threshold that is unset or 0 keeps the default
        return cls(max_connections=(tcp.maxConnections if tcp else None) or UNLIMITED,
                   max_requests=(http.http2MaxRequests if http else None) or UNLIMITED,
                   max_pending=(http.http1MaxPendingRequests if http else None) or UNLIMITED,
                   max_retries=(http.maxRetries if http else None) or UNLIMITED)


class ConnectionPool:
    def __init__(self, limits: PoolLimits) -> None:
        self.limits = limits
        self.active = 0  # requests attached to a connection
        self.retries = 0
        self.overflows = 0
        self._pending: deque[asyncio.Future[None]] = deque()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _overflow(self) -> Overflow:
        self.overflows += 1
        return Overflow()

    async def acquire(self) -> None:
        """Attach to a connection, waiting as a pending request while every
        allowed connection is busy; raise Overflow when the active requests are
        at `max_requests` or the pending queue is full."""
        if self.active < self.limits.max_connections and not self._pending:
            if self.active >= self.limits.max_requests:
                raise self._overflow()
            self.active += 1
            return
        if len(self._pending) >= self.limits.max_pending:
            raise self._overflow()
        fut = asyncio.get_running_loop().create_future()
        self._pending.append(fut)
        try:
            await fut  # release() hands its connection over
        except BaseException:
            if fut in self._pending:
                self._pending.remove(fut)
            elif fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            raise

    def release(self) -> None:
        # A handed-over connection keeps `active` unchanged: a waiter exists only
        # while every connection is busy, so it never finds `max_requests` reached
        # when max_requests >= max_connections, and cannot exist otherwise.
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
