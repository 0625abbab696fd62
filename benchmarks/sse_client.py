"""A lean HTTP/1.1 SSE client for benchmarks: one asyncio Protocol per stream,
recording when the request was sent, when the connection was made, and when
each token frame arrived. Lean so that the client, sharing the cores with the
system under test, disturbs the figures as little as possible; for the same
reason the client's garbage collector is paused while streams are measured
(a full collection of the benchmark process took 20-35 ms, every stream in
flight read that much late), as `timeit` pauses it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["StreamRecord", "collector_paused", "run_streams", "run_closed_loop"]


@dataclass
class StreamRecord:
    started: float
    connected: float | None = None
    status: int | None = None
    tokens: list[float] = field(default_factory=list)  # arrival time of each token frame
    done: bool = False
    error: str | None = None

    @property
    def ttft(self) -> float | None:
        return self.tokens[0] - self.started if self.tokens else None


class _Stream(asyncio.Protocol):
    def __init__(self, request: bytes, record: StreamRecord, finished: asyncio.Future) -> None:
        self.request, self.record, self.finished = request, record, finished
        self.head = b""

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        self.record.connected = time.perf_counter()
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        rec = self.record
        if rec.status is None:
            self.head += data
            if b"\r\n" not in self.head:
                return
            rec.status = int(self.head.split(b" ", 2)[1])
            data = self.head
        n = data.count(b'"delta":{"content"') + data.count(b'"text":"')
        rec.tokens.extend([now] * n)
        if b"data: [DONE]" in data:
            rec.done = True
        # Read the body to its end (the final empty chunk), as HTTP clients do:
        # hanging up after [DONE] would make a proxy reset its upstream connection.
        if rec.done and data.endswith(b"0\r\n\r\n"):
            self.transport.close()

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        if not self.record.done and self.record.error is None:
            self.record.error = f"connection lost: {exc}" if exc else "stream ended without [DONE]"
        if not self.finished.done():
            self.finished.set_result(None)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection inside the block; one collection after it."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
        gc.collect()


async def run_streams(host: str, port: int, streams: int, max_tokens: int, headers: dict[str, str] | None = None,
                      timeout: float = 120.0) -> list[StreamRecord]:
    """Open `streams` streaming chat completions at once; wait for all of them."""
    loop = asyncio.get_running_loop()
    body = json.dumps({"model": "llama-3-8b", "messages": [{"role": "user", "content": "bench"}],
                       "max_tokens": max_tokens, "stream": True}).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: %b\r\nContent-Type: application/json\r\n%b"
               b"Connection: close\r\nContent-Length: %d\r\n\r\n%b" % (host.encode(), extra, len(body), body))

    async def one() -> StreamRecord:
        rec = StreamRecord(started=time.perf_counter())
        fut = loop.create_future()
        try:
            await loop.create_connection(lambda rec=rec, fut=fut: _Stream(request, rec, fut), host, port)
            await fut
        except OSError as exc:
            rec.error = f"connect: {exc}"
        return rec

    with collector_paused():
        return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(streams))), timeout)


def _request(host: str, max_tokens: int, headers: dict[str, str] | None) -> bytes:
    body = json.dumps({"model": "llama-3-8b", "messages": [{"role": "user", "content": "bench"}],
                       "max_tokens": max_tokens, "stream": True}).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: %b\r\nContent-Type: application/json\r\n%b"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%b" % (host.encode(), extra, len(body), body))


async def run_closed_loop(host: str, port: int, concurrency: int, seconds: float, max_tokens: int,
                          stream_seconds: float, headers: dict[str, str] | None = None) -> list[StreamRecord]:
    """Keep `concurrency` streams in flight for `seconds`: each worker starts a
    new stream when its last one ends; starts are staggered over one stream's
    length so arrivals are spread as in steady traffic, not one burst."""
    loop = asyncio.get_running_loop()
    request = _request(host, max_tokens, headers)
    records: list[StreamRecord] = []
    stop_at = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        await asyncio.sleep(stream_seconds * i / concurrency)
        while time.perf_counter() < stop_at:
            rec = StreamRecord(started=time.perf_counter())
            fut = loop.create_future()
            try:
                await loop.create_connection(lambda rec=rec, fut=fut: _Stream(request, rec, fut), host, port)
                await asyncio.wait_for(fut, stream_seconds * 20 + 10)
            except (TimeoutError, OSError) as exc:
                rec.error = f"{type(exc).__name__}: {exc}"
            records.append(rec)

    with collector_paused():
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return records
