"""The gateway's data path: route, fault, mirror, pick an endpoint, retry,
and stream the answer back chunk by chunk, with Envoy's local replies and
Istio's telemetry.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie

from aiohttp import web
from multidict import CIMultiDict

from harness.istio.base import seconds
from harness.istio.virtual_service import HeaderOperations, Headers, HTTPRoute
from harness.localstack.mesh.balancer import Endpoint
from harness.localstack.mesh.matching import RequestView, pick_destination, select_rule, virtual_service_for
from harness.localstack.mesh.pool import Overflow
from harness.localstack.mesh.retry import Failure, RetryPolicy, fault_draw
from harness.localstack.mesh.routing import Cluster, RoutingTable
from harness.localstack.mesh.telemetry import UNKNOWN, Destination, MeshTelemetry
from harness.localstack.mesh.upstream import UpstreamExchange, UpstreamReset, open_exchange

__all__ = ["MeshProxy", "ATTRIBUTION_HEADER", "LocalReply"]

log = logging.getLogger("mesh")
ATTRIBUTION_HEADER = "x-mesh-upstream"
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "host", "content-length"}
_CONNECT_FAILURE = "upstream connect error or disconnect/reset before headers. {retried}reset reason: {reason}"


@dataclass(frozen=True)
class LocalReply:
    status: int
    body: str
    flags: str
    overloaded: bool = False


NO_HEALTHY = LocalReply(503, "no healthy upstream", "UH")
NO_CLUSTER = LocalReply(503, "no healthy upstream", "NC")
TIMEOUT = LocalReply(504, "upstream request timeout", "UT")
OVERFLOW = LocalReply(503, _CONNECT_FAILURE.format(retried="", reason="overflow"), "UO", overloaded=True)


def _apply_ops(headers: CIMultiDict, ops: HeaderOperations | None) -> None:
    if ops is None:
        return
    for k, v in (ops.set or {}).items():
        headers[k] = v
    for k, v in (ops.add or {}).items():
        headers.add(k, v)
    for k in ops.remove or []:
        headers.popall(k, None)


def _ops(h: Headers | None, side: str) -> HeaderOperations | None:
    return getattr(h, side) if h is not None else None


class MeshProxy:
    def __init__(self, table: RoutingTable, telemetry: MeshTelemetry, default_host: str,
                 rng: random.Random | None = None) -> None:
        self.table = table
        self.telemetry = telemetry
        self.default_host = default_host
        self.rng = rng or random.Random()
        self._mirrors: set[asyncio.Task] = set()
        self.clock: Callable[[], float] = time.monotonic

    async def close(self) -> None:
        for t in list(self._mirrors):
            t.cancel()

    # -- entry point ---------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        table = self.table  # a reload swaps self.table; this request keeps its table
        body = await request.read()
        view = RequestView.build(request.method, request.path_qs, request.headers)
        vs = virtual_service_for(table.config.virtual_services, request.headers.get("host", ""), self.default_host)
        selected = select_rule(vs, view) if vs else None
        host_name = vs.spec.hosts[0] if vs else self.default_host
        if selected is None:
            return self._reply(LocalReply(404, "", "NR"), Destination(host_name, table.topology.namespace), started)
        _, rule = selected
        if rule.fault is not None:
            draw = fault_draw(rule.fault, self.rng)
            if draw.delay_s:
                await asyncio.sleep(draw.delay_s)
            if draw.abort_status is not None:
                return self._reply(LocalReply(draw.abort_status, "fault filter abort", "FI"),
                                   Destination(host_name, table.topology.namespace), started)
        assert rule.route  # validated: a rule without route has redirect/directResponse, not emulated
        dest = pick_destination(rule.route, self.rng)
        self._mirror(rule, request, body, table)
        cluster = table.cluster(dest.destination.host, dest.destination.subset)
        service = Destination(dest.destination.host.split(".")[0], table.topology.namespace)
        if cluster is None:
            return self._reply(NO_CLUSTER, service, started)
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP)
        headers["host"] = dest.destination.host
        headers.setdefault("x-request-id", str(uuid.uuid4()))
        headers["x-forwarded-for"] = request.remote or "127.0.0.1"
        _apply_ops(headers, _ops(rule.headers, "request"))
        _apply_ops(headers, _ops(dest.headers, "request"))
        # Istio: a route with fault injection runs without its timeout and retries.
        faulted = rule.fault is not None
        timeout = None if faulted else seconds(rule.timeout)
        policy = RetryPolicy(attempts=0) if faulted else RetryPolicy.from_route(rule.retries)
        resp_ops = [_ops(rule.headers, "response"), _ops(dest.headers, "response")]
        return await self._forward(request, cluster, service, headers, body, view, timeout, policy, resp_ops,
                                   started)

    # -- upstream with retries -----------------------------------------------
    async def _forward(self, request: web.Request, cluster: Cluster, service: Destination, headers: CIMultiDict,
                       body: bytes, view: RequestView, timeout: float | None, policy: RetryPolicy,
                       resp_ops: list, started: float) -> web.StreamResponse:
        deadline = None if timeout is None else self.clock() + timeout
        hash_key = cluster.balancer.policy.hash_key(
            view.headers, _cookies(view.headers.get("cookie")), request.remote or "", dict(view.query))
        tried: set[str] = set()
        attempt, retries_held = 0, 0
        ep: Endpoint | None = None
        try:
            while True:
                ejected = cluster.ejected()
                ep = cluster.balancer.choose(self.rng, ejected, hash_key,
                                             avoid=tried if policy.ignore_previous_hosts else frozenset(),
                                             attempt=attempt, panic=cluster.panic(ejected))
                if ep is None:
                    return self._reply(NO_HEALTHY, service, started)
                try:
                    await cluster.pool.acquire()
                except Overflow:
                    self.telemetry.overflow.labels(cluster.name).inc()
                    return self._reply(OVERFLOW, self._dest(service, ep), started)
                released = False
                cluster.balancer.active[ep.pod] = cluster.balancer.active.get(ep.pod, 0) + 1
                try:
                    headers["x-envoy-attempt-count"] = str(attempt + 1)
                    per_try = policy.per_try_timeout
                    remaining = None if deadline is None else max(0.0, deadline - self.clock())
                    limit = min(x for x in (per_try, remaining, float("inf")) if x is not None)
                    route_limited = remaining is not None and (per_try is None or remaining <= per_try)
                    exchange: UpstreamExchange | None = None
                    try:
                        host, port = _address(ep.url)
                        exchange = await open_exchange(host, port, request.method, request.path_qs, headers, body,
                                                       min(cluster.connect_timeout, limit))
                        await asyncio.wait_for(asyncio.shield(exchange.head),
                                               None if limit == float("inf") else max(0.0, limit))
                    except TimeoutError:
                        self._outlier(cluster, ep, None)
                        if exchange is not None:
                            exchange.close()
                        if route_limited:
                            return self._reply(TIMEOUT, self._dest(service, ep), started)
                        failure = Failure.PER_TRY_TIMEOUT if exchange is not None else Failure.CONNECT
                    except UpstreamReset:
                        self._outlier(cluster, ep, None)
                        failure = Failure.RESET
                    except OSError:
                        self._outlier(cluster, ep, None)
                        failure = Failure.CONNECT
                    except BaseException:
                        if exchange is not None:  # the client went away: drop the upstream request too
                            exchange.close()
                        raise
                    else:
                        assert exchange is not None
                        self._outlier(cluster, ep, exchange.status)
                        retry = policy.retriable_status(exchange.status, dict(exchange.headers))
                        if not (retry and attempt < policy.attempts and cluster.pool.try_retry()):
                            released = True
                            return await self._stream_back(request, exchange, cluster, ep, service, attempt + 1,
                                                           deadline, resp_ops, started)
                        retries_held += 1
                        exchange.close()
                        failure = None
                    if failure is not None:
                        if not (policy.retriable_failure(failure) and attempt < policy.attempts
                                and cluster.pool.try_retry()):
                            return self._reply(self._failure_reply(failure, attempt), self._dest(service, ep),
                                               started)
                        retries_held += 1
                finally:
                    cluster.balancer.active[ep.pod] -= 1
                    if not released:
                        cluster.pool.release()
                self.telemetry.retries.labels(cluster.name).inc()
                tried.add(ep.pod)
                attempt += 1
                await asyncio.sleep(policy.backoff(attempt, self.rng))
        finally:
            for _ in range(retries_held):
                cluster.pool.retry_done()

    def _failure_reply(self, failure: Failure, attempt: int) -> LocalReply:
        if failure is Failure.PER_TRY_TIMEOUT:
            return TIMEOUT
        retried = "retried and the latest " if attempt > 0 else ""
        flags = "URX" if attempt > 0 else ("UF" if failure is Failure.CONNECT else "UC")
        reason = "connection failure" if failure is Failure.CONNECT else "connection termination"
        return LocalReply(503, _CONNECT_FAILURE.format(retried=retried, reason=reason), flags)

    def _outlier(self, cluster: Cluster, ep: Endpoint, status: int | None) -> None:
        if cluster.outlier is not None and cluster.outlier.record(ep.pod, status, self.clock()):
            log.info("outlier detection ejected %s from %s", ep.pod, cluster.name)
            self.telemetry.ejections_total.labels(cluster.name).inc()
            self.telemetry.ejections_active.labels(cluster.name).set(len(cluster.ejected()))

    async def _stream_back(self, request: web.Request, upstream: UpstreamExchange, cluster: Cluster,
                           ep: Endpoint, service: Destination, attempts: int, deadline: float | None,
                           resp_ops: list, started: float) -> web.StreamResponse:
        dest = self._dest(service, ep)
        flags = ""
        try:
            out_headers = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP)
            out_headers[ATTRIBUTION_HEADER] = (
                f"pod={ep.pod};workload={ep.workload};subset={cluster.subset or ''};region={ep.region};"
                f"version={ep.label('version') or ''};service={cluster.host};attempts={attempts}")
            for ops in resp_ops:
                _apply_ops(out_headers, ops)
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason or None, headers=out_headers)
            if upstream.chunked:
                resp.enable_chunked_encoding()
            elif upstream.length is not None:
                resp.content_length = upstream.length
            await resp.prepare(request)
            await resp.write(b"")  # the head leaves now; body bytes follow it on the raw transport
            transport = request.transport
            if transport is None:
                raise ConnectionResetError("client went away")
            # Chunked bodies pass with their framing (both sides are chunked), so
            # the splice is byte for byte; the client side adds the final chunk.
            upstream.attach(transport.write)
            try:
                remaining = None if deadline is None else max(0.0, deadline - self.clock())
                await asyncio.wait_for(asyncio.shield(upstream.finished), remaining)
            except TimeoutError:
                flags = "UT"  # the route timeout fired mid-stream: Envoy resets the stream
                transport.close()
                return resp
            except UpstreamReset:
                flags = "UPE"  # upstream went away mid-body: the client sees a cut stream
                self._outlier(cluster, ep, None)
                transport.close()
                return resp
            await resp.write_eof()
            return resp
        finally:
            upstream.close()
            cluster.pool.release()
            self.telemetry.record(dest, upstream.status, flags, (time.perf_counter() - started) * 1000)

    # -- mirroring -----------------------------------------------------------
    def _mirror(self, rule: HTTPRoute, request: web.Request, body: bytes, table: RoutingTable) -> None:
        targets = []
        if rule.mirror is not None:
            pct = rule.mirrorPercentage.value if rule.mirrorPercentage else \
                (rule.mirrorPercent if rule.mirrorPercent is not None else 100.0)
            targets.append((rule.mirror, pct))
        for m in rule.mirrors or []:
            targets.append((m.destination, m.percentage.value if m.percentage else 100.0))
        for dest, pct in targets:
            if self.rng.random() * 100 >= pct:
                continue
            cluster = table.cluster(dest.host, dest.subset)
            if cluster is None:
                continue
            headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP)
            authority = request.headers.get("host", dest.host).split(":")[0]
            headers["host"] = f"{authority}-shadow"  # as Envoy marks a shadowed request
            task = asyncio.create_task(self._send_mirror(cluster, request.method, request.path_qs, headers, body,
                                                         Destination(dest.host.split(".")[0],
                                                                     table.topology.namespace)))
            self._mirrors.add(task)
            task.add_done_callback(self._mirrors.discard)

    async def _send_mirror(self, cluster: Cluster, method: str, path: str, headers: CIMultiDict, body: bytes,
                           service: Destination) -> None:
        """Fire and forget: the answer is read and dropped; failures touch nobody."""
        started = time.perf_counter()
        ep = cluster.balancer.choose(self.rng, cluster.ejected())
        if ep is None:
            self.telemetry.record(service, 503, "UH", 0.0)
            return
        exchange: UpstreamExchange | None = None
        try:
            host, port = _address(ep.url)
            exchange = await open_exchange(host, port, method, path, headers, body, cluster.connect_timeout)
            await asyncio.wait_for(exchange.read_all(), 600)
            self.telemetry.record(self._dest(service, ep), exchange.status, "", (time.perf_counter() - started) * 1000)
        except (TimeoutError, UpstreamReset, OSError):
            self.telemetry.record(self._dest(service, ep), 503, "UF", (time.perf_counter() - started) * 1000)
        finally:
            if exchange is not None:
                exchange.close()

    # -- replies and telemetry -----------------------------------------------
    def _dest(self, service: Destination, ep: Endpoint | None) -> Destination:
        if ep is None:
            return service
        return Destination(service.service, service.namespace, ep.workload, ep.label("version") or UNKNOWN,
                           ep.label("app") or UNKNOWN, ep.region or UNKNOWN)

    def _reply(self, reply: LocalReply, dest: Destination, started: float) -> web.Response:
        headers = {"content-type": "text/plain"}
        if reply.overloaded:
            headers["x-envoy-overloaded"] = "true"
        self.telemetry.record(dest, reply.status, reply.flags, (time.perf_counter() - started) * 1000)
        return web.Response(status=reply.status, text=reply.body, headers=headers)


def _address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rstrip("/").rpartition(":")
    return host, int(port)


def _cookies(header: str | None) -> dict[str, str]:
    if not header:
        return {}
    c = SimpleCookie()
    try:
        c.load(header)
    except Exception:  # a malformed cookie header hashes as no cookie
        return {}
    return {k: m.value for k, m in c.items()}
