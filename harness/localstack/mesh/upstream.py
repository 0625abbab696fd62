"""The proxy's upstream leg: one HTTP/1.1 exchange on a raw asyncio Protocol.

The response head is parsed; the body is spliced to the client unparsed.
Chunked bodies keep their chunk framing end to end (the client's response is
chunked too), so a token frame costs the proxy one read and one write, with
no re-buffering. Only the chunk sizes are followed, to know where the body
ends. Each exchange uses its own connection (`Connection: close`): on
loopback a connect costs far less than pooled-connection bookkeeping, and a
reset can never leak from one request into another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from multidict import CIMultiDict

__all__ = ["UpstreamExchange", "UpstreamReset", "open_exchange"]

_MAX_HEAD = 64 * 1024


class UpstreamReset(ConnectionError):
    """The upstream closed or reset the connection before the response was complete."""

    def __init__(self, before_headers: bool) -> None:
        super().__init__("reset before headers" if before_headers else "reset mid-body")
        self.before_headers = before_headers


class UpstreamExchange(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.head: asyncio.Future = loop.create_future()
        self.finished: asyncio.Future = loop.create_future()
        self.status = 0
        self.reason = ""
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.chunked = False
        self.length: int | None = None
        self._buf = b""
        self._sink: Callable[[bytes], None] | None = None
        self._pending: list[bytes] = []
        self._need = 0  # bytes left in the current chunk, CRLF included
        self._received = 0

    # -- asyncio.Protocol ----------------------------------------------------
    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
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
            if rest:
                self._body(rest)
            elif self.length == 0:
                self._finish()
            return
        self._body(data)

    def connection_lost(self, exc: Exception | None) -> None:
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
        _, status, *reason = lines[0].split(" ", 2)
        self.status = int(status)
        self.reason = reason[0] if reason else ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.add(name.strip(), value.strip())
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        if not self.chunked and "content-length" in self.headers:
            self.length = int(self.headers["content-length"])

    def _body(self, data: bytes) -> None:
        if self.finished.done():
            return
        if self.chunked:
            data = self._chunked(data)
        elif self.length is not None:
            data = data[: self.length - self._received]
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
        data = self._buf + data
        self._buf = b""
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
                self._finish()
                return data[:i]
            self._need = size + 2
            i = eol + 2
        return data

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
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        for fut in (self.head, self.finished):
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()  # retrieved: a failure nobody awaits must not be logged as lost
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        for fut in (self.head, self.finished):
            if not fut.done():
                fut.cancel()


async def open_exchange(host: str, port: int, method: str, path: str, headers: CIMultiDict[str], body: bytes,
                        connect_timeout: float) -> UpstreamExchange:
    """Connect and send the request; the caller awaits `.head`, then streams.
    Raises OSError (connect failure) or asyncio.TimeoutError (connect timeout)."""
    loop = asyncio.get_running_loop()
    exchange = UpstreamExchange(loop)
    await asyncio.wait_for(loop.create_connection(lambda: exchange, host, port), connect_timeout)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {headers.get('host', host)}", "Connection: close",
             f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "connection", "content-length")]
    assert exchange.transport is not None
    exchange.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return exchange
