"""The engine's HTTP server: vLLM's OpenAI surface, /metrics, and the local
fault admin endpoint, over one scheduler loop.

One coroutine runs the engine: it asks the batching model for a step, sleeps
until the step's end on an absolute schedule, then writes that step's token
to every running stream. Token frames are pre-encoded per stream (a fixed
prefix and suffix around the word) and written straight to the transport as
HTTP chunks, so a step costs one `transport.write` per stream, not a task
wake-up per stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import sys
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from harness.localstack.engine.batching import BatchScheduler, Sequence, chained_block_hashes
from harness.localstack.engine.faults import (
    CUDA_OOM_MESSAGE,
    ENGINE_DEAD_MESSAGE,
    FAULT_ADAPTER,
    FaultSet,
    GpuOom,
)
from harness.localstack.engine.metrics import EngineMetrics
from harness.localstack.engine.params import EngineParams
from harness.localstack.engine.requests import (
    GenerateRequest,
    RequestRejected,
    error_body,
    parse_embedding,
    parse_generate,
)
from harness.localstack.engine.text import OutputWords
from harness.stats import percentile

__all__ = ["Engine", "build_app", "SERVED_BY_HEADER"]

SERVED_BY_HEADER = "x-served-by-pod"
VLLM_VERSION = "0.11.0"
log = logging.getLogger("engine")
# A step that wakes this late (a stalled machine) restarts the schedule from
# now instead of emitting a burst of catch-up steps.
_RESYNC_S = 0.25


@dataclass(eq=False)
class Flight:
    """One request in flight: its sequence plus how its tokens leave."""

    req: GenerateRequest | None
    seq: Sequence
    arrival: float
    done: asyncio.Future
    rng: random.Random
    transport: asyncio.Transport | None = None  # set for streams once headers are out
    prefix: bytes = b""
    suffix: bytes = b""
    final_suffix: bytes = b""
    pieces: list[str] = field(default_factory=list)  # non-streaming output
    first_token_at: float | None = None
    last_token_at: float | None = None
    error: str | None = None


class Engine:
    def __init__(self, params: EngineParams, pod: str, startup_delay: float = 0.0) -> None:
        self.params = params
        self.pod = pod
        self.scheduler = BatchScheduler(params)
        self.faults = FaultSet(seed=params.seed)
        self.metrics = EngineMetrics(params.served_model_name, params.max_model_len)
        self.metrics.set_cache_info(params.block_size, params.enable_prefix_caching)
        self.startup_delay = startup_delay
        self.loaded = startup_delay <= 0
        self.dead = False
        self.flights: dict[int, Flight] = {}
        self._next_id = 0
        self._wake = asyncio.Event()
        self._unhang = asyncio.Event()
        self._unhang.set()
        self._loop_task: asyncio.Task | None = None
        self.lateness: deque[float] = deque(maxlen=500_000)  # per token frame written
        self.wake_lateness: deque[float] = deque(maxlen=100_000)  # per step
        self.ttfts: deque[float] = deque(maxlen=100_000)  # the engine's own TTFT per request
        self.emit_time: deque[float] = deque(maxlen=200_000)
        self.steps = 0
        self.tokens = 0
        self.created = int(time.time())

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if not self.loaded:
            loop.call_later(self.startup_delay, self._finish_loading)
        self._loop_task = asyncio.create_task(self._run(), name="engine-loop")

    def _finish_loading(self) -> None:
        self.loaded = True
        log.info("model %s loaded; serving", self.params.served_model_name)

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass

    # -- the scheduler loop --------------------------------------------------
    async def _run(self) -> None:
        # perf_counter, not loop.time(): uvloop's clock ticks in whole milliseconds.
        clock = time.perf_counter
        sched = self.scheduler
        next_t: float | None = None
        while True:
            if not self._unhang.is_set():
                await self._unhang.wait()
                next_t = None
            if sched.idle:
                self.publish_gauges()
                self._wake.clear()
                await self._wake.wait()
                next_t = None
                continue
            now = clock()
            if next_t is None or now - next_t > _RESYNC_S:
                next_t = now
            sched.slow_factor = self.faults.slow_factor
            result = sched.step()
            self.steps += 1
            if result.duration_s <= 0:  # nothing fits yet; wait for a finish or an abort
                self.publish_gauges()
                self._wake.clear()
                await self._wake.wait()
                next_t = None
                continue
            end = next_t + result.duration_s
            # Frames are built while the "GPU" works, so the moment the step
            # is due costs only the socket writes.
            frames = self._frames_for(result)
            # uvloop's timers round to whole milliseconds, so a sleep can end up
            # to 1 ms early; sleep again only when more than that remains.
            while (delay := end - clock()) > 0.001:
                await asyncio.sleep(delay)
            woke = clock()
            next_t = end
            if self.dead:
                continue
            self.wake_lateness.append(woke - end)
            self._send(frames, end)
            self.emit_time.append(clock() - woke)
            self._account(result, woke)

    def _frames_for(self, result) -> list[tuple[Flight, bytes | None]]:
        """This step's token frame per stream (None for non-streaming requests,
        whose words are collected instead)."""
        out: list[tuple[Flight, bytes | None]] = []
        flights = self.flights
        encoded, plain = OutputWords.ENCODED, OutputWords.PLAIN
        for seq in result.emitted:
            f = flights.get(seq.seq_id)
            if f is None or f.req is None:  # gone, or an embedding (nothing to send)
                continue
            word = f.rng.randrange(len(encoded))
            if f.transport is not None:
                data = f.prefix + encoded[word] + (f.final_suffix if seq.finished else f.suffix)
                out.append((f, b"%x\r\n%b\r\n" % (len(data), data)))
            else:
                f.pieces.append(plain[word])
        return out

    def _send(self, frames: list[tuple[Flight, bytes | None]], due: float) -> None:
        """Write one step's frames; each stream's lateness is measured when its
        frame is handed to the kernel."""
        lateness = self.lateness
        clock = time.perf_counter
        for f, frame in frames:
            t = f.transport
            if t is None or f.done.done():
                continue
            if t.is_closing():
                self._abort(f, "client disconnected")
                continue
            t.write(frame)
            lateness.append(clock() - due)

    def _account(self, result, now: float) -> None:
        """Metrics and completions for a step whose tokens went out at `now`."""
        m = self.metrics
        if result.prefill_tokens:
            m.prompt_tokens.inc(result.prefill_tokens)
        if result.prefix_queries:
            m.prefix_queries.inc(result.prefix_queries)
            m.prefix_hits.inc(result.prefix_hits)
        if result.preempted:
            m.preemptions.inc(len(result.preempted))
        m.generation_tokens.inc(len(result.emitted))
        self.tokens += len(result.emitted)
        flights = self.flights
        itl = m.itl
        for seq in result.emitted:
            f = flights.get(seq.seq_id)
            if f is None:
                continue
            if f.first_token_at is None:
                f.first_token_at = now
                m.ttft.observe(now - f.arrival)
                self.ttfts.append(now - f.arrival)
            else:
                itl.observe(now - f.last_token_at)
            f.last_token_at = now
        for seq in result.finished:
            f = flights.pop(seq.seq_id, None)
            if f is None:
                continue
            self._observe_finished(f, now)
            if not f.done.done():
                f.done.set_result(None)
        self.publish_gauges()

    def _observe_finished(self, f: Flight, now: float) -> None:
        m = self.metrics
        e2e = now - f.arrival
        m.e2e.observe(e2e)
        m.queue_time.observe((f.first_token_at or now) - f.arrival)
        m.request_prompt_tokens.observe(f.seq.prompt_tokens)
        m.request_generation_tokens.observe(f.seq.generated)
        if f.seq.generated > 1 and f.first_token_at is not None:
            m.tpot.observe((now - f.first_token_at) / (f.seq.generated - 1))
        m.success(f.req.finish_reason if f.req else "stop")

    def publish_gauges(self) -> None:
        s = self.scheduler
        self.metrics.running.set(len(s.running))
        self.metrics.waiting.set(len(s.waiting))
        self.metrics.kv_usage.set(s.kv_usage)

    def _abort(self, f: Flight, reason: str) -> None:
        self.flights.pop(f.seq.seq_id, None)
        self.scheduler.abort(f.seq)
        f.error = f.error or reason
        self.metrics.success("abort")
        if not f.done.done():
            f.done.set_result(None)
        self._wake.set()

    # -- admission -----------------------------------------------------------
    def admit(self, req: GenerateRequest | None, prompt_ids: list[int], output_tokens: int, seed: int) -> Flight:
        self._next_id += 1
        block_hashes = chained_block_hashes(prompt_ids, self.params.block_size) \
            if self.params.enable_prefix_caching else ()
        seq = Sequence(seq_id=self._next_id, prompt_tokens=len(prompt_ids), max_output_tokens=output_tokens,
                       block_hashes=block_hashes)
        f = Flight(req=req, seq=seq, arrival=time.perf_counter(),
                   done=asyncio.get_running_loop().create_future(), rng=random.Random(seed))
        self.flights[seq.seq_id] = f
        self.scheduler.add(seq)
        self.publish_gauges()
        self._wake.set()
        return f

    async def unhung(self) -> None:
        """Return at once, or when a hang fault is cleared."""
        if not self._unhang.is_set():
            await self._unhang.wait()

    @property
    def admitted(self) -> int:
        """Requests admitted so far (seeds each request's draws)."""
        return self._next_id

    async def finish(self, f: Flight) -> None:
        """Wait for a request to end; if the handler is cancelled (the client
        left), take its sequence out of the batch."""
        try:
            await f.done
        finally:
            if f.seq.seq_id in self.flights:
                self._abort(f, "client disconnected")

    def fail_all(self, message: str) -> None:
        """The engine died: every request in flight ends with an error."""
        for f in list(self.flights.values()):
            f.error = message
            self.scheduler.abort(f.seq)
            if not f.done.done():
                f.done.set_result(None)
        self.flights.clear()
        self.publish_gauges()

    # -- faults --------------------------------------------------------------
    def apply_fault(self, fault) -> None:
        loop = asyncio.get_running_loop()
        self.faults.set(fault)
        if fault.kind == "gpu_oom":
            self._die(fault)
        elif fault.kind == "crash":
            log.error("crash fault: exiting with code %d", fault.exit_code)
            loop.call_later(0.02, _exit_now, fault.exit_code)  # let the admin reply leave first
        elif fault.kind == "hang":
            self._unhang.clear()

    def clear_faults(self, kind: str | None) -> list[str]:
        # a dead engine stays dead (its OOM stays reported); the pod restarts it
        cleared = self.faults.clear(kind, keep=frozenset({"gpu_oom"}) if self.dead else frozenset())
        if "hang" in cleared:
            self._unhang.set()
        return cleared

    def _die(self, fault: GpuOom) -> None:
        if self.dead:
            return
        self.dead = True
        log.error("torch.OutOfMemoryError: %s", CUDA_OOM_MESSAGE)
        log.error("EngineCore encountered a fatal error.")
        self.fail_all(ENGINE_DEAD_MESSAGE)
        asyncio.get_running_loop().call_later(fault.exit_after_s, _exit_now, 1)

    def stats(self) -> dict[str, Any]:
        lat, wake, ttft, emit = self.lateness, self.wake_lateness, self.ttfts, self.emit_time

        def pct(values: deque[float], q: float) -> float | None:
            return round(percentile(values, q) * 1000, 3) if values else None

        return {"pod": self.pod, "steps": self.steps, "tokens": self.tokens,
                "running": len(self.scheduler.running), "waiting": len(self.scheduler.waiting),
                "kv_cache_usage": self.scheduler.kv_usage, "preemptions": self.scheduler.preemptions_total,
                "lateness_ms": {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": pct(lat, 1.0),
                                "samples": len(lat)},
                "ttft_ms": {"p50": pct(ttft, 0.5), "p99": pct(ttft, 0.99), "samples": len(ttft)},
                "wake_lateness_ms": {"p50": pct(wake, 0.5), "p99": pct(wake, 0.99), "max": pct(wake, 1.0)},
                "emit_ms": {"p50": pct(emit, 0.5), "p99": pct(emit, 0.99), "max": pct(emit, 1.0)}}

    def reset_stats(self) -> None:
        self.lateness.clear()
        self.wake_lateness.clear()
        self.ttfts.clear()
        self.emit_time.clear()
        self.steps = self.tokens = 0


def _exit_now(code: int) -> None:
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


# -- HTTP handlers -------------------------------------------------------------

def _error(status: int, message: str, error_type: str, param: str | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_body(message, error_type, status, param), status=status, headers=headers)


def build_app(engine: Engine) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    served = {SERVED_BY_HEADER: engine.pod}

    async def gate() -> web.Response | None:
        """What every API request meets first: hang, death, loading, injected errors."""
        await engine.unhung()
        if engine.dead:
            return _error(500, ENGINE_DEAD_MESSAGE, "InternalServerError", headers=served)
        if not engine.loaded:
            return _error(503, "The model is still loading.", "ServiceUnavailableError", headers=served)
        status = engine.faults.injected_error()
        if status is not None:
            kind = "InternalServerError" if status == 500 else "ServiceUnavailableError"
            return _error(status, f"injected fault: error_rate answered {status}", kind, headers=served)
        return None

    async def read_json(request: web.Request) -> Any:
        ctype = request.content_type
        if ctype != "application/json":
            raise RequestRejected(415, "Unsupported Media Type: Only 'application/json' is allowed")
        try:
            return json.loads(await request.read())
        except ValueError as exc:
            raise RequestRejected(400, f"JSON decode error: {exc}") from None

    def generate_handler(api: str):
        async def handler(request: web.Request) -> web.StreamResponse:
            blocked = await gate()
            if blocked is not None:
                return blocked
            try:
                req = parse_generate(api, await read_json(request), engine.params, engine.admitted)
            except RequestRejected as exc:
                return web.json_response(exc.body(), status=exc.status, headers=served)
            return await (_stream(request, req) if req.stream else _unary(req))
        return handler

    def _frames(req: GenerateRequest, rid: str, created: int) -> tuple[bytes, bytes, bytes, bytes]:
        """(first chunk, token prefix, token suffix, last-token suffix) for one stream."""
        model = json.dumps(req.model)
        usage = ',"usage":null' if req.include_usage else ""
        if req.api == "chat":
            head = f'data: {{"id":"{rid}","object":"chat.completion.chunk","created":{created},"model":{model},'
            first = (head + '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
                     f'"finish_reason":null}}]{usage}}}\n\n')
            prefix = head + '"choices":[{"index":0,"delta":{"content":"'
            suffix = f'"}},"logprobs":null,"finish_reason":null}}]{usage}}}\n\n'
            final = f'"}},"logprobs":null,"finish_reason":"{req.finish_reason}","stop_reason":null}}]{usage}}}\n\n'
        else:
            head = f'data: {{"id":"{rid}","object":"text_completion","created":{created},"model":{model},'
            first = ""
            prefix = head + '"choices":[{"index":0,"text":"'
            suffix = f'","logprobs":null,"finish_reason":null,"stop_reason":null}}]{usage}}}\n\n'
            final = f'","logprobs":null,"finish_reason":"{req.finish_reason}","stop_reason":null}}]{usage}}}\n\n'
        return first.encode(), prefix.encode(), suffix.encode(), final.encode()

    async def _stream(request: web.Request, req: GenerateRequest) -> web.StreamResponse:
        rid = ("chatcmpl-" if req.api == "chat" else "cmpl-") + uuid.uuid4().hex
        created = int(time.time())
        first, prefix, suffix, final = _frames(req, rid, created)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache", **served})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        # The first write goes through aiohttp so the buffered headers leave with it;
        # token frames then go straight to the transport as HTTP chunks.
        await resp.write(first or b": stream\n\n")
        f = engine.admit(req, req.prompt_ids, req.output_tokens, req.seed)
        f.prefix, f.suffix, f.final_suffix = prefix, suffix, final
        f.transport = request.transport
        await engine.finish(f)
        if request.transport is None or request.transport.is_closing():
            return resp
        tail = b""
        if f.error is not None:
            err = error_body(f.error, "InternalServerError", 500)
            tail += b"data: " + json.dumps(err).encode() + b"\n\n"
        elif req.include_usage:
            usage = {"id": rid, "object": "chat.completion.chunk" if req.api == "chat" else "text_completion",
                     "created": created, "model": req.model, "choices": [],
                     "usage": _usage(f.seq, req)}
            tail += b"data: " + json.dumps(usage, separators=(",", ":")).encode() + b"\n\n"
        tail += b"data: [DONE]\n\n"
        await resp.write(tail)
        await resp.write_eof()
        return resp

    async def _unary(req: GenerateRequest) -> web.Response:
        f = engine.admit(req, req.prompt_ids, req.output_tokens, req.seed)
        await engine.finish(f)
        if f.error is not None:
            return _error(500, f.error, "InternalServerError", headers=served)
        text = "".join(f.pieces)
        created = int(time.time())
        if req.api == "chat":
            body = {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "created": created,
                    "model": req.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "tool_calls": []},
                                 "logprobs": None, "finish_reason": req.finish_reason, "stop_reason": None}],
                    "usage": _usage(f.seq, req)}
        else:
            body = {"id": "cmpl-" + uuid.uuid4().hex, "object": "text_completion", "created": created,
                    "model": req.model,
                    "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": req.finish_reason,
                                 "stop_reason": None}],
                    "usage": _usage(f.seq, req)}
        return web.json_response(body, headers=served)

    async def embeddings(request: web.Request) -> web.Response:
        blocked = await gate()
        if blocked is not None:
            return blocked
        try:
            req = parse_embedding(await read_json(request), engine.params)
        except RequestRejected as exc:
            return web.json_response(exc.body(), status=exc.status, headers=served)
        data, total = [], 0
        for i, (ids, text) in enumerate(zip(req.inputs, req.texts)):
            f = engine.admit(None, ids, 1, zlib.crc32(text.encode()))
            await engine.finish(f)
            if f.error is not None:
                return _error(500, f.error, "InternalServerError", headers=served)
            data.append({"index": i, "object": "embedding", "embedding": _embedding(text, engine.params.embedding_dim)})
            total += len(ids)
        return web.json_response({"id": "embd-" + uuid.uuid4().hex, "object": "list", "created": int(time.time()),
                                  "model": req.model, "data": data,
                                  "usage": {"prompt_tokens": total, "total_tokens": total,
                                            "completion_tokens": 0}}, headers=served)

    async def models(request: web.Request) -> web.Response:
        p = engine.params
        return web.json_response({"object": "list", "data": [{
            "id": p.served_model_name, "object": "model", "created": engine.created, "owned_by": "vllm",
            "root": p.served_model_name, "parent": None, "max_model_len": p.max_model_len,
            "permission": [{"id": "modelperm-" + engine.pod, "object": "model_permission",
                            "created": engine.created, "allow_create_engine": False, "allow_sampling": True,
                            "allow_logprobs": True, "allow_search_indices": False, "allow_view": True,
                            "allow_fine_tuning": False, "organization": "*", "group": None,
                            "is_blocking": False}]}]}, headers=served)

    async def health(request: web.Request) -> web.Response:
        await engine.unhung()
        if engine.dead or not engine.loaded:
            return web.Response(status=503, headers=served)
        return web.Response(status=200, headers=served)

    async def metrics(request: web.Request) -> web.Response:
        engine.publish_gauges()
        return web.Response(body=generate_latest(engine.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def version(request: web.Request) -> web.Response:
        return web.json_response({"version": VLLM_VERSION})

    async def load(request: web.Request) -> web.Response:
        return web.json_response({"server_load": len(engine.flights)})

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response({"pod": engine.pod, "active": engine.faults.describe()})

    async def post_fault(request: web.Request) -> web.Response:
        try:
            fault = FAULT_ADAPTER.validate_json(await request.read())
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return web.json_response({"error": problems, "kinds": ["gpu_oom", "crash", "hang", "slow",
                                                                   "error_rate"]}, status=400)
        engine.apply_fault(fault)
        return web.json_response({"pod": engine.pod, "active": engine.faults.describe()})

    async def delete_faults(request: web.Request) -> web.Response:
        cleared = engine.clear_faults(request.match_info.get("kind"))
        return web.json_response({"pod": engine.pod, "cleared": cleared, "active": engine.faults.describe()})

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(engine.stats())

    async def reset_stats(request: web.Request) -> web.Response:
        engine.reset_stats()
        return web.json_response(engine.stats())

    app.add_routes([
        web.post("/v1/chat/completions", generate_handler("chat")),
        web.post("/v1/completions", generate_handler("completion")),
        web.post("/v1/embeddings", embeddings),
        web.get("/v1/models", models),
        web.get("/health", health),
        web.get("/ping", health),
        web.post("/ping", health),
        web.get("/metrics", metrics),
        web.get("/version", version),
        web.get("/load", load),
        web.get("/admin/faults", get_faults),
        web.post("/admin/faults", post_fault),
        web.delete("/admin/faults", delete_faults),
        web.delete("/admin/faults/{kind}", delete_faults),
        web.get("/admin/stats", get_stats),
        web.delete("/admin/stats", reset_stats),
    ])

    async def on_startup(app: web.Application) -> None:
        await engine.start()

    async def on_cleanup(app: web.Application) -> None:
        await engine.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def _usage(seq: Sequence, req: GenerateRequest) -> dict[str, Any]:
    return {"prompt_tokens": seq.prompt_tokens, "total_tokens": seq.prompt_tokens + seq.generated,
            "completion_tokens": seq.generated}


def _embedding(text: str, dim: int) -> list[float]:
    rng = random.Random(zlib.crc32(text.encode()))
    v = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [round(x / norm, 6) for x in v]
