"""A deliberately broken OpenAI-style server for client error handling: the
real engine never sends a malformed event or cuts a stream, so the client's
handling of those is tested against this one (a real aiohttp server on
loopback, run in a thread of the test process)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from harness.localstack.testing import serve_in_thread

CHUNK = {"id": "x", "object": "chat.completion.chunk", "model": "llama-3-8b",
         "choices": [{"index": 0, "delta": {"content": " hi"}, "finish_reason": None}]}


async def _handler(request: web.Request) -> web.StreamResponse:
    await request.read()
    kind = request.headers.get("x-misbehave", "none")
    if kind == "html503":
        return web.Response(status=503, text="<html><body>upstream overloaded</body></html>",
                            content_type="text/html")
    if kind == "none" and request.path == "/v1/completions":
        return web.json_response({"id": "c", "object": "text_completion", "model": "llama-3-8b",
                                  "choices": [{"index": 0, "text": " a b c", "finish_reason": "length"}],
                                  "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    await resp.write(b"data: " + json.dumps(CHUNK).encode() + b"\n\n")
    if kind == "malformed":
        await resp.write(b"data: {not json\n\n")
    elif kind == "cut":
        assert request.transport is not None
        request.transport.close()  # no final chunk, no [DONE]
        return resp
    elif kind == "stream-error":
        await resp.write(b'data: {"error": {"message": "EngineCore encountered an issue.", "code": 500}}\n\n')
    elif kind == "slow":
        await asyncio.sleep(5)
    try:
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
    except ConnectionError:
        pass  # the slow case: the client gave up first, as it should
    return resp


@contextmanager
def misbehaving_server() -> Iterator[str]:
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", _handler)
    with serve_in_thread(app) as url:
        yield url
