"""Probe traffic for conformance requirements: N chat completions with
given headers, `concurrency` in flight, each turned into a RequestRecord
the same way the load users build theirs (`harness.load.records`).

The transport is the harness's one outbound configuration
(`harness.outbound`, read from the `HARNESS_*` environment as the load users
read it): a private CA or --insecure for an https gateway, a client
certificate, HTTPS_PROXY / NO_PROXY with proxy credentials, the bearer token
and extra headers. The token never reaches a record: error texts are
redacted as the load users' are.

Conformance requirements need a statistically sized number of cheap,
independent requests with exact headers, not a load shape; resilience
requirements use the Locust runner for their background load instead.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pandas as pd

from harness.load.records import ErrorKind, RecordBuilder, RequestRecord, now_utc, records_frame
from harness.outbound import OutboundSettings, aiohttp_options, redact

__all__ = ["Probe", "send"]


@dataclass(frozen=True)
class Probe:
    """One kind of request: its headers and body parameters."""

    headers: dict[str, str] = field(default_factory=dict)
    model: str = "llama-3-8b"
    max_tokens: int = 4
    stream: bool = False
    scenario: str = "certify"
    path: str = "/v1/chat/completions"
    # set: an embeddings request (path /v1/embeddings) with these inputs instead of a chat
    inputs: tuple[str, ...] = ()


def send(gateway: str, probes: Sequence[Probe], concurrency: int = 16, timeout_s: float = 60.0,
         stop: threading.Event | None = None) -> pd.DataFrame:
    """Send every probe (in order, `concurrency` at a time); the records as a
    DataFrame. Once `stop` is set no further probe starts (those in flight
    finish), so a caller can hold a load until what it waits for happened."""
    return records_frame([r.as_dict() for r in asyncio.run(_send_all(gateway, probes, concurrency, timeout_s, stop))])


async def _send_all(gateway: str, probes: Sequence[Probe], concurrency: int, timeout_s: float,
                    stop: threading.Event | None = None) -> list[RequestRecord]:
    queue: asyncio.Queue[tuple[int, Probe]] = asyncio.Queue()
    for item in enumerate(probes):
        queue.put_nowait(item)
    out: list[RequestRecord | None] = [None] * len(probes)
    settings = OutboundSettings.from_env()
    transport = Transport(aiohttp_options(settings, gateway), settings.gateway_headers(), settings)
    limit = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=limit, timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:

        async def worker() -> None:
            while not queue.empty() and not (stop is not None and stop.is_set()):
                i, probe = queue.get_nowait()
                out[i] = await _one(session, gateway, probe, timeout_s, transport)

        await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(probes))))))
    return [r for r in out if r is not None]


@dataclass(frozen=True)
class Transport:
    options: dict[str, Any]  # aiohttp request keywords: ssl, proxy, proxy_auth
    headers: dict[str, str]  # the gateway's: Authorization, extra headers
    settings: OutboundSettings


async def _one(session: aiohttp.ClientSession, gateway: str, probe: Probe, timeout_s: float,
               transport: Transport) -> RequestRecord:
    record = RequestRecord(start=now_utc(), scenario=probe.scenario, api="embeddings" if probe.inputs else "chat",
                           stream=probe.stream, model_requested=probe.model,
                           tier=probe.headers.get("x-user-tier", "standard"), user_id=probe.headers.get("x-user-id"))
    body: dict[str, object] = {"model": probe.model, "input": list(probe.inputs)} if probe.inputs else {
        "model": probe.model, "messages": [{"role": "user", "content": "certify probe"}],
        "max_tokens": probe.max_tokens, "stream": probe.stream}
    origin = time.perf_counter()
    builder = RecordBuilder(record, origin)
    try:
        headers = {"content-type": "application/json", **transport.headers, **probe.headers}
        async with session.post(gateway.rstrip("/") + probe.path, data=json.dumps(body), headers=headers,
                                **transport.options) as resp:
            builder.head(resp.status, {k.lower(): v for k, v in resp.headers.items()})
            payload = await resp.read()
            if not 200 <= resp.status < 300:
                builder.http_error(payload)
            elif probe.stream:
                # read whole: conformance judges where a request went, not its token timing
                for line in payload.decode("utf-8", errors="replace").splitlines():
                    if line.startswith("data:"):
                        builder.event(time.perf_counter(), line[5:].strip())
            else:
                builder.body(time.perf_counter(), payload)
    except TimeoutError:
        builder.fail(ErrorKind.TIMEOUT, f"no answer within {timeout_s:g}s")
    except aiohttp.ClientError as exc:
        builder.fail(ErrorKind.CONNECT, str(exc) or type(exc).__name__)
    done = builder.finish(time.perf_counter())
    if gateway.lower().startswith("https://"):
        done.tls = "unverified" if transport.settings.insecure else "verified"
    if done.error:
        done.error = redact(done.error, transport.settings)
    return done

