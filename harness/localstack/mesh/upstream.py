"""The proxy's upstream leg: HTTP/1.1 exchanges on raw asyncio Protocols, over
keep-alive connections pooled per cluster and endpoint, as Envoy keeps them.

The response head is parsed; the body is spliced to the client unparsed.
Chunked bodies keep their chunk framing end to end (the client's response is
chunked too), so a token frame costs the proxy one read and one write, with
no re-buffering. Only the chunk sizes are followed, to know where the body
ends.

A connection goes back to its pool only after a response read to its exact
end (the terminating chunk and its trailer, or Content-Length bytes) and
without `Connection: close`; an exchange abandoned early (client gone, retry,
timeout) aborts its connection, so a reset can never leak from one request
into another and the engine sees the disconnect and drops the sequence. An
idle connection the engine closes leaves the pool at once. Reuse saves a
connect, an accept and a close per request on both sides (the proxy's profile
at 200 streams: docs/mesh-proxy.md, "Performance").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

from multidict import CIMultiDict

__all__ = ["ISTIO_IDLE_TIMEOUT_S", "address_of", "UpstreamConnection", "UpstreamConnections", "UpstreamExchange", "UpstreamReset"]

_MAX_HEAD = 64 * 1024
_SKIPPED_REQUEST_HEADERS = frozenset(("host", "connection", "content-length"))
# DestinationRule connectionPool.http.idleTimeout: Istio's default is one hour.
ISTIO_IDLE_TIMEOUT_S = 3600.0


class UpstreamReset(ConnectionError):
    """The upstream closed or reset the connection before the response was complete."""

    def __init__(self, before_headers: bool) -> None:
        super().__init__("reset before headers" if before_headers else "reset mid-body")
        self.before_headers = before_headers


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to an endpoint; it carries one exchange at a time."""

    def __init__(self, pool: UpstreamConnections, key: tuple[str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.current: UpstreamExchange | None = None
        self.requests = 0  # exchanges begun on this connection
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        if self.current is None:  # bytes outside any exchange: the connection cannot be trusted
            self.abort()
        else:
            self.current.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.forget(self)
        if self.current is not None:
            self.current.connection_lost()

    def usable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class UpstreamExchange:
    """One request/response exchange on a connection. The proxy awaits
    `.head`, reads `.status` / `.headers`, then `attach`es a sink for the body,
    awaits `.finished`, and always ends with `.close()`."""

    def __init__(self, conn: UpstreamConnection, no_body: bool) -> None:
        loop = asyncio.get_running_loop()
        self.conn = conn
        self.head: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.status = 0
        self.reason = ""
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.chunked = False
        self.length: int | None = None
        self.reusable = False  # set once the response ended exactly where its framing says
        self._no_body = no_body  # a HEAD request: the response's framing headers describe nothing
        self._keep_alive = True
        self._buf = b""
        self._sink: Callable[[bytes], None] | None = None
        self._pending: list[bytes] = []
        self._need = 0  # bytes left in the current chunk, CRLF included
        self._trailer = False  # the zero-size chunk was seen; its trailer section follows
        self._closed = False  # the proxy is done with this exchange
        self._received = 0

    # -- bytes from the connection ---------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self.finished.done():
            if self._trailer:
                self._trailer_bytes(data)
            else:
                self._abort()
            return
        if not self.head.done():
            self._buf += data
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > _MAX_HEAD:
                    self._fail(UpstreamReset(True))
                return
            head, rest = self._buf[:end], self._buf[end + 4:]
            self._buf = b""
            try:
                self._parse_head(head)
            except (ValueError, IndexError):
                self._fail(UpstreamReset(True))
                return
            self.head.set_result(None)
            if rest or self.length == 0:
                self._body(rest)
            return
        self._body(data)

    def connection_lost(self) -> None:
        self.reusable = False
        if not self.head.done():
            self._fail(UpstreamReset(True))
        elif not self.finished.done():
            if self.length is None and not self.chunked:
                self._finish()  # a close-delimited body ends with the connection
            else:
                self._fail(UpstreamReset(False))

    # -- parsing ---------------------------------------------------------------
    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        version, status, *reason = lines[0].split(" ", 2)
        self.status = int(status)
        self.reason = reason[0] if reason else ""
        headers = self.headers
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
        connection = headers.get("connection", "").lower()
        self._keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
        if self._no_body or self.status in (204, 304) or self.status < 200:
            self.length = 0
            return
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not self.chunked and "content-length" in headers:
            self.length = int(headers["content-length"])

    def _body(self, data: bytes) -> None:
        if self.chunked:
            try:
                data = self._chunked(data)
            except ValueError:  # a chunk size that is no hex number: the stream is broken
                self._fail(UpstreamReset(False))
                return
        elif self.length is not None:
            left = self.length - self._received
            if len(data) > left:  # more than the framing announced: never reuse
                self._keep_alive = False
                data = data[:left]
            self._received += len(data)
        if data:
            if self._sink is None:
                self._pending.append(data)
            else:
                self._sink(data)
        if self.length is not None and self._received >= self.length:
            self._finish()

    def _chunked(self, data: bytes) -> bytes:
        """Follow chunk sizes; return the bytes to pass on (everything before the
        terminating zero-size chunk, which the client side writes itself). A size
        line split across reads is held back until it is complete."""
        if self._buf:
            data = self._buf + data
            self._buf = b""
        elif not self._need:
            # the common case, one engine write = one whole token chunk: pass it as it is
            eol = data.find(b"\r\n", 0, 10)
            if eol > 0 and len(data) == eol + 4 + int(data[:eol].split(b";", 1)[0], 16) \
                    and data.endswith(b"\r\n") and data[0] != 48:  # 48: "0", the terminating chunk
                return data
        i = 0
        n = len(data)
        while i < n:
            if self._need:
                take = min(self._need, n - i)
                i += take
                self._need -= take
                continue
            eol = data.find(b"\r\n", i)
            if eol < 0:
                self._buf = data[i:]
                return data[:i]
            size = int(data[i:eol].split(b";", 1)[0], 16)
            if size == 0:
                self._trailer = True
                self._finish()
                self._trailer_bytes(data[eol + 2:])
                return data[:i]
            self._need = size + 2
            i = eol + 2
        return data

    def _trailer_bytes(self, data: bytes) -> None:
        """After the zero-size chunk: trailer lines, then an empty line. Only
        once it is complete may the connection carry another request."""
        buf = self._buf + data
        if buf.startswith(b"\r\n"):
            end = 2
        else:
            i = buf.find(b"\r\n\r\n")
            end = -1 if i < 0 else i + 4
        if end < 0:
            if len(buf) > _MAX_HEAD:
                self._abort()
            else:
                self._buf = buf
            return
        self._trailer = False
        self._buf = b""
        self.reusable = self._keep_alive and len(buf) == end
        if self._closed:
            self._release()

    # -- consumer side -----------------------------------------------------------
    def attach(self, sink: Callable[[bytes], None]) -> None:
        """Start passing body bytes to `sink` (bytes that came with the head first)."""
        self._sink = sink
        pending, self._pending = self._pending, []
        for data in pending:
            sink(data)

    async def read_all(self) -> bytes:
        parts: list[bytes] = []
        self.attach(parts.append)
        await self.finished
        return b"".join(parts)

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)
        if not self.chunked:
            self.reusable = self._keep_alive and self.length is not None

    def _fail(self, exc: Exception) -> None:
        for fut in (self.head, self.finished):
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: a failure nobody awaits must not be logged as lost
        self._abort()

    def _abort(self) -> None:
        self.reusable = False
        if self.conn.current is self:
            self.conn.abort()

    def close(self) -> None:
        """End this exchange (idempotent): a connection whose response was read
        to its end goes back to the pool; any other is aborted, so the upstream
        sees the reset."""
        for fut in (self.head, self.finished):
            if not fut.done():
                fut.cancel()
        self._closed = True
        self._sink = None
        if self._trailer and not self.finished.cancelled():
            return  # the body is complete; the connection is released once its trailer is read
        self._release()

    def _release(self) -> None:
        conn = self.conn
        if conn.current is not self:
            return
        if self.reusable and conn.usable():
            conn.current = None
            conn.pool.put_back(conn)
        else:
            conn.abort()


class UpstreamConnections:
    """A cluster's upstream connections: idle keep-alive connections per
    endpoint address, reused most recently used first, as Envoy's HTTP/1.1
    pool does. `maxRequestsPerConnection` and `idleTimeout` (DestinationRule
    `connectionPool.http`) retire a connection after that many requests or
    that long idle. `opened` counts connects, `connections` the open ones
    (busy and idle), for `tcp.maxConnections`."""

    def __init__(self, max_requests_per_connection: int | None = None,
                 idle_timeout_s: float | None = ISTIO_IDLE_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_requests = max_requests_per_connection or None
        self.idle_timeout_s = idle_timeout_s or None
        self.clock = clock
        self.opened = 0
        self._idle: dict[tuple[str, int], list[UpstreamConnection]] = {}
        self._live: set[UpstreamConnection] = set()
        self._draining = False

    @property
    def connections(self) -> int:
        return len(self._live)

    def idle(self) -> int:
        return sum(len(v) for v in self._idle.values())

    async def send(self, host: str, port: int, method: str, path: str, headers: CIMultiDict[str], body: bytes,
                   connect_timeout: float) -> UpstreamExchange:
        """Send the request on an idle connection to host:port, or a new one;
        the caller awaits `.head`, then streams, then calls `.close()`.
        Raises OSError (connect failure) or TimeoutError (connect timeout)."""
        key = (host, port)
        conn = self._take(key)
        if conn is None:
            conn = UpstreamConnection(self, key)
            loop = asyncio.get_running_loop()
            await asyncio.wait_for(loop.create_connection(lambda: conn, host, port), connect_timeout)
            self.opened += 1
            self._live.add(conn)
        exchange = UpstreamExchange(conn, no_body=method == "HEAD")
        conn.current = exchange
        conn.requests += 1
        assert conn.transport is not None
        conn.transport.write(_request_bytes(method, path, headers.get("host", host), headers, body))
        return exchange

    def _take(self, key: tuple[str, int]) -> UpstreamConnection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.usable():
                continue
            if self.idle_timeout_s is not None and self.clock() - conn.idle_since > self.idle_timeout_s:
                conn.abort()
                continue
            return conn
        return None

    def put_back(self, conn: UpstreamConnection) -> None:
        if self._draining or (self.max_requests is not None and conn.requests >= self.max_requests):
            conn.abort()
            return
        conn.idle_since = self.clock()
        self._idle.setdefault(conn.key, []).append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        """The connection closed (either side)."""
        self._live.discard(conn)
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def retain(self, addresses: set[tuple[str, int]]) -> None:
        """Close idle connections to endpoints no longer in the cluster, as
        Envoy drains the pools of removed hosts."""
        for key in [k for k in self._idle if k not in addresses]:
            for conn in self._idle.pop(key):
                conn.abort()

    def drain(self) -> None:
        """The cluster was replaced: close idle connections now and busy ones
        when their exchange ends."""
        self._draining = True
        self.retain(set())


def address_of(url: str) -> tuple[str, int]:
    """(host, port) of an endpoint URL such as `http://127.0.0.1:8001`."""
    host, _, port = url.removeprefix("http://").rstrip("/").rpartition(":")
    return host, int(port)


def _request_bytes(method: str, path: str, host: str, headers: CIMultiDict[str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in _SKIPPED_REQUEST_HEADERS]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
