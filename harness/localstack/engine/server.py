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

from harness.localstack.engine.batching import BatchScheduler, Sequence, StepResult, chained_block_hashes
from harness.localstack.engine.faults import (
    CUDA_OOM_MESSAGE,
    ENGINE_DEAD_MESSAGE,
    FAULT_ADAPTER,
    Fault,
    FaultSet,
    GpuOom,
)
from harness.localstack.engine.metrics import EngineMetrics
from harness.localstack.engine.openai_wire import (
    DONE_FRAME,
    STREAM_OPENING_COMMENT,
    Api,
    StreamFrames,
    completion_body,
    embedding_vector,
    embeddings_body,
    error_body,
    error_frame,
    models_body,
    response_id,
    stream_frames,
    usage,
    usage_frame,
)
from harness.localstack.engine.params import EngineParams
from harness.localstack.engine.requests import (
    GenerateRequest,
    RequestRejected,
    parse_embedding,
    parse_generate,
)
from harness.localstack.engine.text import OutputWords
from harness.localstack.looplag import SelfMetrics
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
    done: asyncio.Future[None]
    rng: random.Random
    transport: asyncio.Transport | None = None  # set for streams once headers are out
    frames: StreamFrames | None = None  # set for streams: the bytes around each token
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
        self.self_metrics = SelfMetrics(self.metrics.registry, "engine", pod)
        self.startup_delay = startup_delay
        self.loaded = startup_delay <= 0
        self.dead = False
        self.flights: dict[int, Flight] = {}
        self._next_id = 0
        self._wake = asyncio.Event()
        self._unhang = asyncio.Event()
        self._unhang.set()
        self._loop_task: asyncio.Task[None] | None = None
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
        self.self_metrics.start()

    def _finish_loading(self) -> None:
        self.loaded = True
        log.info("model %s loaded; serving", self.params.served_model_name)

    async def stop(self) -> None:
        await self.self_metrics.stop()
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

    def _frames_for(self, result: StepResult) -> list[tuple[Flight, bytes]]:
        """This step's token frame per stream (non-streaming requests collect
        their words instead)."""
        out: list[tuple[Flight, bytes]] = []
        flights = self.flights
        encoded, plain = OutputWords.ENCODED, OutputWords.PLAIN
        for seq in result.emitted:
            f = flights.get(seq.seq_id)
            if f is None or f.req is None:  # gone, or an embedding (nothing to send)
                continue
            word = f.rng.randrange(len(encoded))
            frames = f.frames
            if f.transport is not None and frames is not None:
                # inline, not StreamFrames.token / http_chunk: this runs per token per stream
                data = frames.prefix + encoded[word] + (frames.final_suffix if seq.finished else frames.suffix)
                out.append((f, b"%x\r\n%b\r\n" % (len(data), data)))
            else:
                f.pieces.append(plain[word])
        return out

    def _send(self, frames: list[tuple[Flight, bytes]], due: float) -> None:
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

    def _account(self, result: StepResult, now: float) -> None:
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
            last = f.last_token_at
            if last is None:
                f.first_token_at = now
                m.ttft.observe(now - f.arrival)
                self.ttfts.append(now - f.arrival)
            else:
                itl.observe(now - last)
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
    def apply_fault(self, fault: Fault) -> None:
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
# Module-level handlers; the engine and the pod's headers live on the app.

ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)
SERVED: web.AppKey[dict[str, str]] = web.AppKey("served", dict)
FAULT_KINDS = ["gpu_oom", "crash", "hang", "slow", "error_rate"]


def _error(status: int, message: str, error_type: str, headers: dict[str, str]) -> web.Response:
    return web.json_response(error_body(message, error_type, status), status=status, headers=headers)


async def _gate(request: web.Request) -> web.Response | None:
    """What every API request meets first: hang, death, loading, injected errors."""
    engine, served = request.app[ENGINE], request.app[SERVED]
    await engine.unhung()
    if engine.dead:
        return _error(500, ENGINE_DEAD_MESSAGE, "InternalServerError", served)
    if not engine.loaded:
        return _error(503, "The model is still loading.", "ServiceUnavailableError", served)
    status = engine.faults.injected_error()
    if status is not None:
        kind = "InternalServerError" if status == 500 else "ServiceUnavailableError"
        return _error(status, f"injected fault: error_rate answered {status}", kind, served)
    return None


async def _read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise RequestRejected(415, "Unsupported Media Type: Only 'application/json' is allowed")
    try:
        return json.loads(await request.read())
    except ValueError as exc:
        raise RequestRejected(400, f"JSON decode error: {exc}") from None


async def _generate(request: web.Request, api: Api) -> web.StreamResponse:
    blocked = await _gate(request)
    if blocked is not None:
        return blocked
    engine = request.app[ENGINE]
    try:
        req = parse_generate(api, await _read_json(request), engine.params, engine.admitted)
    except RequestRejected as exc:
        return web.json_response(exc.body(), status=exc.status, headers=request.app[SERVED])
    return await (_stream(request, req) if req.stream else _unary(request, req))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, "chat")


async def completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, "completion")


async def _stream(request: web.Request, req: GenerateRequest) -> web.StreamResponse:
    engine = request.app[ENGINE]
    rid, created = response_id(req.api, uuid.uuid4().hex), int(time.time())
    frames = stream_frames(req.api, rid, created, req.model, req.finish_reason, req.include_usage)
    served: dict[str, str] = request.app[SERVED]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                       "Cache-Control": "no-cache", **served})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    # The first write goes through aiohttp so the buffered headers leave with it;
    # token frames then go straight to the transport as HTTP chunks.
    await resp.write(frames.first or STREAM_OPENING_COMMENT)
    f = engine.admit(req, req.prompt_ids, req.output_tokens, req.seed)
    f.frames = frames
    f.transport = request.transport
    await engine.finish(f)
    if request.transport is None or request.transport.is_closing():
        return resp
    if f.error is not None:
        tail = error_frame(f.error)
    elif req.include_usage:
        tail = usage_frame(req.api, rid, created, req.model, usage(f.seq.prompt_tokens, f.seq.generated))
    else:
        tail = b""
    await resp.write(tail + DONE_FRAME)
    await resp.write_eof()
    return resp


async def _unary(request: web.Request, req: GenerateRequest) -> web.Response:
    engine, served = request.app[ENGINE], request.app[SERVED]
    f = engine.admit(req, req.prompt_ids, req.output_tokens, req.seed)
    await engine.finish(f)
    if f.error is not None:
        return _error(500, f.error, "InternalServerError", served)
    body = completion_body(req.api, response_id(req.api, uuid.uuid4().hex), int(time.time()), req.model,
                           "".join(f.pieces), req.finish_reason, usage(f.seq.prompt_tokens, f.seq.generated))
    return web.json_response(body, headers=served)


async def embeddings(request: web.Request) -> web.Response:
    blocked = await _gate(request)
    if blocked is not None:
        return blocked
    engine, served = request.app[ENGINE], request.app[SERVED]
    try:
        req = parse_embedding(await _read_json(request), engine.params)
    except RequestRejected as exc:
        return web.json_response(exc.body(), status=exc.status, headers=served)
    vectors, total = [], 0
    for ids, text in zip(req.inputs, req.texts, strict=True):
        f = engine.admit(None, ids, 1, zlib.crc32(text.encode()))
        await engine.finish(f)
        if f.error is not None:
            return _error(500, f.error, "InternalServerError", served)
        vectors.append(embedding_vector(text, engine.params.embedding_dim))
        total += len(ids)
    return web.json_response(embeddings_body("embd-" + uuid.uuid4().hex, int(time.time()), req.model, vectors,
                                             total), headers=served)


async def models(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    p = engine.params
    return web.json_response(models_body(p.served_model_name, engine.created, p.max_model_len, engine.pod),
                             headers=request.app[SERVED])


async def health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    await engine.unhung()
    return web.Response(status=503 if engine.dead or not engine.loaded else 200, headers=request.app[SERVED])


async def metrics(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    engine.publish_gauges()
    return web.Response(body=generate_latest(engine.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def version(request: web.Request) -> web.Response:
    return web.json_response({"version": VLLM_VERSION})


async def load(request: web.Request) -> web.Response:
    return web.json_response({"server_load": len(request.app[ENGINE].flights)})


async def get_faults(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return web.json_response({"pod": engine.pod, "active": engine.faults.describe()})


async def post_fault(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    try:
        fault = FAULT_ADAPTER.validate_json(await request.read())
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        return web.json_response({"error": problems, "kinds": FAULT_KINDS}, status=400)
    engine.apply_fault(fault)
    return web.json_response({"pod": engine.pod, "active": engine.faults.describe()})


async def delete_faults(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    cleared = engine.clear_faults(request.match_info.get("kind"))
    return web.json_response({"pod": engine.pod, "cleared": cleared, "active": engine.faults.describe()})


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[ENGINE].stats())


async def reset_stats(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    engine.reset_stats()
    return web.json_response(engine.stats())


async def _start_engine(app: web.Application) -> None:
    await app[ENGINE].start()


async def _stop_engine(app: web.Application) -> None:
    await app[ENGINE].stop()


def build_app(engine: Engine) -> web.Application:
    """The engine's HTTP application: vLLM's API, /metrics and the fault admin."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[ENGINE] = engine
    app[SERVED] = {SERVED_BY_HEADER: engine.pod}
    app.add_routes([
        web.post("/v1/chat/completions", chat_completions),
        web.post("/v1/completions", completions),
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
    app.on_startup.append(_start_engine)
    app.on_cleanup.append(_stop_engine)
    return app
