"""Envoy's connection-pool circuit breakers as Istio's connectionPool configures
them: max connections, max requests, max pending requests, max concurrent retries.

Code under test: harness/localstack/mesh/pool.py. No timing assumptions: the
event loop is only given turns (never timed sleeps) so waiting tasks can run.
"""

from __future__ import annotations

import asyncio

import pytest

from harness.istio.destination_rule import ConnectionPoolSettings
from harness.localstack.mesh.pool import UNLIMITED, ConnectionPool, Overflow, PoolLimits


async def turns(n: int = 3) -> None:
    """Let other ready tasks run for `n` loop iterations (no timers involved)."""
    loop = asyncio.get_running_loop()
    for _ in range(n):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, None)
        await fut


def one_and_one() -> ConnectionPool:
    return ConnectionPool(PoolLimits(max_connections=1, max_pending=1))


def test_first_acquire_succeeds_second_waits_third_overflows():
    """Envoy: with max connections 1 and max pending 1, the first request is active,
    the second queues as pending, the third overflows (503 UO)."""
    async def scenario() -> None:
        pool = one_and_one()
        await pool.acquire()
        assert (pool.active, pool.pending) == (1, 0)
        second = asyncio.ensure_future(pool.acquire())
        await turns()
        assert not second.done()
        assert (pool.active, pool.pending) == (1, 1)
        with pytest.raises(Overflow):
            await pool.acquire()
        assert pool.overflows == 1
        assert (pool.active, pool.pending) == (1, 1)
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)

    asyncio.run(scenario())


def test_release_hands_slot_to_pending_waiter():
    """Envoy: a finished request's slot goes to the oldest pending request; the
    active count stays at the limit while the waiter proceeds."""
    async def scenario() -> None:
        pool = one_and_one()
        await pool.acquire()
        waiter = asyncio.ensure_future(pool.acquire())
        await turns()
        pool.release()
        assert (pool.active, pool.pending) == (1, 0)
        await waiter  # completes without error
        assert waiter.done() and waiter.exception() is None
        assert pool.active == 1
        pool.release()
        assert pool.active == 0

    asyncio.run(scenario())


def test_pending_waiters_are_served_in_fifo_order():
    """Envoy pending requests are a queue: freed slots go to the oldest waiter first."""
    async def scenario() -> None:
        pool = ConnectionPool(PoolLimits(max_connections=1, max_pending=5))
        await pool.acquire()
        order: list[int] = []

        async def request(i: int) -> None:
            await pool.acquire()
            order.append(i)

        tasks = [asyncio.ensure_future(request(i)) for i in range(3)]
        await turns()
        assert pool.pending == 3
        for _ in range(3):
            pool.release()
            await turns()
        assert order == [0, 1, 2]
        await asyncio.gather(*tasks)
        assert (pool.active, pool.pending) == (1, 0)

    asyncio.run(scenario())


def test_cancelled_pending_waiter_is_removed():
    """A pending request whose caller gives up (cancellation) leaves the queue and
    does not take a slot; the next release frees the active slot."""
    async def scenario() -> None:
        pool = one_and_one()
        await pool.acquire()
        waiter = asyncio.ensure_future(pool.acquire())
        await turns()
        assert pool.pending == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (pool.active, pool.pending) == (1, 0)
        # the queue has room again: a new request waits instead of overflowing
        again = asyncio.ensure_future(pool.acquire())
        await turns()
        assert pool.pending == 1 and pool.overflows == 0
        pool.release()
        await again
        assert (pool.active, pool.pending) == (1, 0)
        pool.release()
        assert pool.active == 0

    asyncio.run(scenario())


def test_waiter_cancelled_after_handover_returns_the_slot():
    """If the slot is handed over just as the waiter is cancelled, the slot is
    released again instead of leaking."""
    async def scenario() -> None:
        pool = one_and_one()
        await pool.acquire()
        waiter = asyncio.ensure_future(pool.acquire())
        await turns()
        pool.release()  # hands the slot to `waiter`
        waiter.cancel()  # before it got to run
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (pool.active, pool.pending) == (0, 0)

    asyncio.run(scenario())


def test_try_retry_respects_max_retries():
    """Envoy's retry circuit breaker (Istio http.maxRetries): at most max_retries
    concurrent retries; a refused retry counts as an overflow."""
    pool = ConnectionPool(PoolLimits(max_retries=2))
    assert pool.try_retry() and pool.try_retry()
    assert pool.try_retry() is False
    assert pool.overflows == 1 and pool.retries == 2
    pool.retry_done()
    assert pool.try_retry() is True


def test_max_requests_is_a_hard_limit_not_a_queue():
    """Envoy's attachStreamToClient (conn_pool_base.cc): at `max_requests` active
    requests a request fails at once (503 UO) even with connections and pending
    room to spare; only a request waiting for a connection queues."""
    async def scenario() -> None:
        pool = ConnectionPool(PoolLimits(max_connections=10, max_requests=2, max_pending=5))
        await pool.acquire()
        await pool.acquire()
        with pytest.raises(Overflow):
            await pool.acquire()
        assert (pool.active, pool.pending, pool.overflows) == (2, 0, 1)
        pool.release()
        await pool.acquire()  # below the limit again: admitted at once
        assert pool.active == 2

    asyncio.run(scenario())


def test_requests_queue_when_connections_are_the_tighter_limit():
    """With max connections 1 below max requests 4, the second request waits for
    the connection (pending), as an HTTP/1.1 request waits for a free connection."""
    async def scenario() -> None:
        pool = ConnectionPool(PoolLimits(max_connections=1, max_requests=4, max_pending=1))
        await pool.acquire()
        waiter = asyncio.ensure_future(pool.acquire())
        await turns()
        assert (pool.active, pool.pending) == (1, 1)
        pool.release()
        await waiter
        assert (pool.active, pool.pending, pool.overflows) == (1, 0, 0)

    asyncio.run(scenario())


def test_pool_limits_from_policy():
    """Istio connectionPool (pilot applyConnectionPool): maxConnections,
    http2MaxRequests, http1MaxPendingRequests and maxRetries each set their own
    Envoy threshold; unset or 0 = unlimited."""
    cp = ConnectionPoolSettings.model_validate({"tcp": {"maxConnections": 512},
                                                "http": {"http1MaxPendingRequests": 128, "http2MaxRequests": 64,
                                                         "maxRetries": 32}})
    assert PoolLimits.from_policy(cp) == PoolLimits(max_connections=512, max_requests=64, max_pending=128,
                                                    max_retries=32)
    assert PoolLimits.from_policy(None) == PoolLimits(UNLIMITED, UNLIMITED, UNLIMITED, UNLIMITED)
    only_tcp = ConnectionPoolSettings.model_validate({"tcp": {"maxConnections": 3}})
    assert PoolLimits.from_policy(only_tcp) == PoolLimits(max_connections=3)
