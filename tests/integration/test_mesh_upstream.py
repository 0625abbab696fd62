"""The proxy's upstream connections against a scripted HTTP/1.1 server on
loopback: keep-alive reuse only after a response read to its exact end, never
after an abandoned exchange, a `Connection: close` or a closed idle socket;
Istio's maxRequestsPerConnection and idleTimeout retire connections; and the
gateway itself keeping one upstream connection for sequential streams."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from multidict import CIMultiDict

from harness.localstack.mesh.upstream import UpstreamConnections, UpstreamReset
from harness.localstack.testing import running_stack

pytestmark = pytest.mark.integration

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
Respond = Callable[[asyncio.StreamWriter, int], Awaitable[None]]


class ScriptedServer:
    """Answers each request with `respond(writer, n)`; counts connections and
    records whether each one ended with EOF from the client."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.connections = 0
        self.requests = 0
        self.client_closed = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                await reader.readexactly(length)
                self.requests += 1
                await self.respond(writer, self.requests)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.client_closed += 1
            writer.close()


async def _exchange(pool: UpstreamConnections, port: int, method: str = "POST") -> tuple[int, bytes]:
    ex = await pool.send("127.0.0.1", port, method, "/v1/x", CIMultiDict(host="chat"), b"{}", 1.0)
    await asyncio.wait_for(ex.head, 2)
    body = await asyncio.wait_for(ex.read_all(), 2)
    status = ex.status
    ex.close()
    return status, body


async def _settle(predicate: Callable[[], bool]) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached within 1 s")


def test_chunked_responses_reuse_one_connection_and_keep_their_framing() -> None:
    async def respond(w: asyncio.StreamWriter, n: int) -> None:
        w.write(CHUNKED + b"5\r\nhello\r\n")
        await w.drain()
        w.write(b"2\r\n %d\r\n0\r\n" % n)  # the terminator's last CRLF comes in a read of its own
        await w.drain()
        await asyncio.sleep(0.01)
        w.write(b"\r\n")

    async def run() -> None:
        async with ScriptedServer(respond) as srv:
            pool = UpstreamConnections()
            for n in (1, 2, 3):
                assert await _exchange(pool, srv.port) == (200, b"5\r\nhello\r\n2\r\n %d\r\n" % n)
                assert pool.idle() == 0  # the body ended, the terminator's last CRLF not yet read
                await _settle(lambda: pool.idle() == 1)
            assert (pool.opened, srv.connections, pool.connections, pool.idle()) == (1, 1, 1, 1)

    asyncio.run(run())


def test_content_length_reused_but_connection_close_and_close_delimited_bodies_not() -> None:
    async def respond(w: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        elif n == 2:
            w.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad")
            await w.drain()
            w.close()
        else:
            w.write(b"HTTP/1.1 200 OK\r\n\r\nuntil close")
            await w.drain()
            w.close()

    async def run() -> None:
        async with ScriptedServer(respond) as srv:
            pool = UpstreamConnections()
            assert await _exchange(pool, srv.port) == (200, b"ok")
            assert await _exchange(pool, srv.port) == (503, b"bad")  # reuses the first connection
            assert pool.opened == 1
            assert await _exchange(pool, srv.port) == (200, b"until close")
            assert pool.opened == 2
            await _settle(lambda: pool.connections == 0)

    asyncio.run(run())


def test_an_abandoned_exchange_resets_its_connection_and_is_never_reused() -> None:
    async def respond(w: asyncio.StreamWriter, n: int) -> None:
        w.write(CHUNKED + b"2\r\nhi\r\n")  # and never the end: a stream in progress

    async def run() -> None:
        async with ScriptedServer(respond) as srv:
            pool = UpstreamConnections()
            ex = await pool.send("127.0.0.1", srv.port, "POST", "/", CIMultiDict(), b"", 1.0)
            await asyncio.wait_for(ex.head, 2)
            ex.close()  # the client went away mid-stream
            ex.close()  # idempotent
            await _settle(lambda: srv.client_closed == 1 and pool.connections == 0)
            ex2 = await pool.send("127.0.0.1", srv.port, "POST", "/", CIMultiDict(), b"", 1.0)
            await asyncio.wait_for(ex2.head, 2)
            assert (pool.opened, srv.connections) == (2, 2)
            ex2.close()

    asyncio.run(run())


def test_an_idle_connection_the_server_closes_leaves_the_pool() -> None:
    async def respond(w: asyncio.StreamWriter, n: int) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
        await w.drain()
        if n == 1:
            w.close()  # as aiohttp's keep-alive timeout does

    async def run() -> None:
        async with ScriptedServer(respond) as srv:
            pool = UpstreamConnections()
            assert await _exchange(pool, srv.port) == (200, b"x")
            await _settle(lambda: pool.connections == 0 and pool.idle() == 0)
            assert await _exchange(pool, srv.port) == (200, b"x")
            assert pool.opened == 2

    asyncio.run(run())


def test_a_reset_before_the_head_or_a_broken_chunk_fails_the_exchange() -> None:
    async def respond(w: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            w.transport.abort()
        else:
            w.write(CHUNKED + b"zz\r\nhello\r\n")

    async def run() -> None:
        async with ScriptedServer(respond) as srv:
            pool = UpstreamConnections()
            ex = await pool.send("127.0.0.1", srv.port, "POST", "/", CIMultiDict(), b"", 1.0)
            with pytest.raises(UpstreamReset) as err:
                await asyncio.wait_for(ex.head, 2)
            assert err.value.before_headers
            ex.close()
            ex = await pool.send("127.0.0.1", srv.port, "POST", "/", CIMultiDict(), b"", 1.0)
            await asyncio.wait_for(ex.head, 2)
            with pytest.raises(UpstreamReset) as err:
                await asyncio.wait_for(ex.read_all(), 2)
            assert not err.value.before_headers
            ex.close()
            await _settle(lambda: pool.connections == 0)

    asyncio.run(run())


def test_max_requests_per_connection_and_idle_timeout_retire_connections() -> None:
    async def respond(w: asyncio.StreamWriter, n: int) -> None:
        w.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    async def run() -> None:
        async with ScriptedServer(respond) as srv:
            per_conn = UpstreamConnections(max_requests_per_connection=2)
            for _ in range(4):
                assert await _exchange(per_conn, srv.port) == (204, b"")
            assert per_conn.opened == 2
            now = [0.0]
            timed = UpstreamConnections(idle_timeout_s=30.0, clock=lambda: now[0])
            await _exchange(timed, srv.port)
            now[0] = 29.0
            await _exchange(timed, srv.port)
            assert timed.opened == 1
            now[0] = 60.0
            await _exchange(timed, srv.port)
            assert timed.opened == 2

    asyncio.run(run())


def test_endpoints_removed_or_a_drained_cluster_close_idle_connections() -> None:
    async def respond(w: asyncio.StreamWriter, n: int) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    async def run() -> None:
        async with ScriptedServer(respond) as srv:
            pool = UpstreamConnections()
            await _exchange(pool, srv.port, method="HEAD")
            pool.retain({("127.0.0.1", srv.port)})
            assert pool.idle() == 1
            pool.retain(set())
            await _settle(lambda: pool.connections == 0 and srv.client_closed == 1)
            busy = await pool.send("127.0.0.1", srv.port, "GET", "/", CIMultiDict(), b"", 1.0)
            pool.drain()
            await asyncio.wait_for(busy.read_all(), 2)
            busy.close()  # complete, but its cluster is gone: closed, not pooled
            await _settle(lambda: pool.connections == 0 and srv.client_closed == 2)

    asyncio.run(run())


BENCH = Path(__file__).parents[2] / "benchmarks" / "fixtures" / "mesh-bench"


def test_the_gateway_keeps_one_upstream_connection_for_sequential_streams(tmp_path: Path) -> None:
    body = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "x"}], "max_tokens": 3, "stream": True}
    with running_stack(topology=BENCH / "topology.yaml", istio=[BENCH / "istio"], prometheus=False,
                       state_dir=tmp_path) as stack:
        for _ in range(5):
            with httpx.stream("POST", f"{stack.state.gateway}/v1/chat/completions", json=body, timeout=30) as r:
                assert r.status_code == 200 and b"[DONE]" in r.read()
        assert stack.state.mesh_admin is not None
        (cluster,) = httpx.get(f"{stack.state.mesh_admin}/clusters", timeout=10).json()["clusters"]
        assert (cluster["connects"], cluster["connections"]) == (1, 1)
