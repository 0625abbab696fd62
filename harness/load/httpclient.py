"""A small HTTP/1.1 client for LLM users: keep-alive connections and a body
read as it arrives, each piece timestamped on receipt.

Locust's FastHttpUser reads a streamed body in fixed-size blocks (a 64 KiB
read waits for 64 KiB), which hides when tokens arrive; this client hands
over whatever one `recv` returns. Plain blocking sockets: under Locust,
gevent makes them cooperative.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.load.sse import ChunkedDecoder

__all__ = ["Connection", "Response", "HTTPClientError", "ConnectFailed", "ReadTimeout", "split_host"]


class HTTPClientError(Exception):
    """A transport-level failure (not an HTTP status)."""


class ConnectFailed(HTTPClientError):
    pass


class ReadTimeout(HTTPClientError):
    pass


class ConnectionClosed(HTTPClientError):
    pass


def split_host(base_url: str) -> tuple[str, int, str]:
    """(host, port, path prefix) of an http:// base URL."""
    parts = urlsplit(base_url if "://" in base_url else f"http://{base_url}")
    if parts.scheme != "http":
        raise ValueError(f"only http:// targets are supported, got {base_url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in {base_url!r}")
    return parts.hostname, parts.port or 80, parts.path.rstrip("/")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    _pieces: Iterator[tuple[float, bytes]] = field(repr=False)

    def iter_body(self) -> Iterator[tuple[float, bytes]]:
        """(receive time, decoded bytes) as they arrive."""
        return self._pieces

    def read(self) -> bytes:
        return b"".join(p for _, p in self._pieces)


class Connection:
    """One keep-alive connection to one target (a Locust user owns one)."""

    def __init__(self, base_url: str, connect_timeout: float = 10.0, read_timeout: float = 300.0,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.host, self.port, self.prefix = split_host(base_url)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.clock = clock
        self._sock: socket.socket | None = None
        self._reusable = False

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError:
            raise ConnectFailed(f"connect to {self.host}:{self.port} timed out") from None
        except OSError as exc:
            raise ConnectFailed(f"connect to {self.host}:{self.port}: {exc.strerror or exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.read_timeout)
        return sock

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        """Send a request; return once the response head is in. A kept-alive
        connection the server closed meanwhile is replaced once, transparently."""
        head = [f"{method} {self.prefix}{path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        wire = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (0, 1):
            fresh = self._sock is None
            if fresh:
                self._sock = self._connect()
            assert self._sock is not None
            try:
                self._sock.sendall(wire)
                status, headers, rest = self._read_head(self._sock)
                break
            except (ConnectionClosed, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if fresh or attempt:
                    raise ConnectionClosed(f"connection closed before the response head: {exc}") from None
            except TimeoutError:
                self.close()
                raise ReadTimeout(f"no response head within {self.read_timeout}s") from None
        return Response(status, headers, self._body(status, headers, rest, method))

    def _read_head(self, sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise ConnectionClosed("closed")
            buf += data
            if len(buf) > 65536:
                raise HTTPClientError("response head too large")
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise HTTPClientError(f"bad status line {lines[0][:60]!r}") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers, rest

    def _body(self, status: int, headers: dict[str, str], rest: bytes, method: str) -> Iterator[tuple[float, bytes]]:
        sock = self._sock
        assert sock is not None
        keep = headers.get("connection", "").lower() != "close"
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = int(headers["content-length"]) if "content-length" in headers and not chunked else None
        if status in (204, 304) or method == "HEAD":
            length = 0
        complete = False
        try:
            if chunked:
                dec = ChunkedDecoder()
                data = rest
                while True:
                    if data:
                        payload = dec.feed(data)
                        if payload:
                            yield self.clock(), payload
                        if dec.done:
                            complete = True
                            return
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionClosed("the body ended before its last chunk")
            elif length is not None:
                got = 0
                data = rest
                while True:
                    if data:
                        data = data[: length - got]
                        got += len(data)
                        yield self.clock(), data
                    if got >= length:
                        complete = True
                        return
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionClosed(f"the body ended after {got} of {length} bytes")
            else:  # delimited by close
                keep = False
                data = rest
                while True:
                    if data:
                        yield self.clock(), data
                    data = sock.recv(65536)
                    if not data:
                        complete = True
                        return
        except TimeoutError:
            raise ReadTimeout(f"no data for {self.read_timeout}s") from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionClosed(f"connection reset mid-body: {exc}") from None
        finally:
            if not (complete and keep):
                self.close()
