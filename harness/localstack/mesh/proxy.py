"""The gateway's data path: route, fault, mirror, pick an endpoint, retry,
and stream the answer back chunk by chunk, with Envoy's local replies and
Istio's telemetry.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.cookies import SimpleCookie

from aiohttp import web
from multidict import CIMultiDict

from harness.istio.base import seconds
from harness.istio.hosts import short_host
from harness.istio.virtual_service import HeaderOperations, Headers, HTTPRoute
from harness.localstack.mesh.balancer import Endpoint
from harness.localstack.mesh.matching import RequestView, pick_destination, select_rule, virtual_service_for
from harness.localstack.mesh.pool import Overflow
from harness.localstack.mesh.replies import (
    NO_CLUSTER,
    NO_HEALTHY,
    NO_ROUTE,
    OVERFLOW,
    TIMEOUT,
    LocalReply,
    SidecarReply,
    direct_reply,
    fault_abort,
    join_flags,
    redirect_reply,
    sidecar_reply,
    upstream_failure,
)
from harness.localstack.mesh.retry import Failure, RetryPolicy, fault_draw
from harness.localstack.mesh.routing import Cluster, RoutingTable, route_hashes
from harness.localstack.mesh.telemetry import UNKNOWN, Destination, MeshTelemetry
from harness.localstack.mesh.upstream import UpstreamExchange, UpstreamReset, address_of

__all__ = ["MeshProxy", "ATTRIBUTION_HEADER", "attempt_limit", "retries_exhausted"]

log = logging.getLogger("mesh")
ATTRIBUTION_HEADER = "x-mesh-upstream"
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "host", "content-length"}


def _forwardable(headers: Mapping[str, str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in _HOP_BY_HOP)


def _apply_ops(headers: CIMultiDict[str], ops: HeaderOperations | None) -> None:
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


def attempt_limit(per_try: float | None, remaining: float | None) -> tuple[float, bool]:
    """How long an attempt may wait for its response head, and whether that
    limit is the route's timeout (then its expiry ends the request, not the try)."""
    limit = min(x for x in (per_try, remaining, math.inf) if x is not None)
    return limit, remaining is not None and (per_try is None or remaining <= per_try)


def retries_exhausted(policy: RetryPolicy, retriable: bool, attempt: int) -> str:
    """Envoy's URX flag: a retriable answer on the last attempt the route's
    retry policy allows (none without a policy)."""
    return "URX" if retriable and 0 < policy.attempts <= attempt else ""


@dataclass
class _Leg:
    """One request on its way upstream: what every attempt of it shares."""

    request: web.Request
    cluster: Cluster
    service: Destination
    headers: CIMultiDict[str]
    body: bytes
    policy: RetryPolicy
    deadline: float | None
    response_ops: tuple[HeaderOperations | None, ...]
    started: float
    hash_key: str | None
    fault_flags: str  # "DI" when the fault filter delayed the request
    sidecar_region: str | None  # pods of this region sit behind a sidecar of the gateway's network
    tried: set[str] = field(default_factory=set)
    retries_held: int = 0  # slots of the cluster's maxRetries budget this request holds


class MeshProxy:
    def __init__(self, table: RoutingTable, telemetry: MeshTelemetry, default_host: str,
                 rng: random.Random | None = None) -> None:
        self.table = table
        self.telemetry = telemetry
        self.default_host = default_host
        self.rng = rng or random.Random()
        self._mirrors: set[asyncio.Task[None]] = set()
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
        here = Destination(vs.spec.hosts[0] if vs else self.default_host, table.topology.namespace)
        if selected is None:
            return self._reply(NO_ROUTE, here, started)
        _, rule = selected
        # Envoy's fault filter runs before the router: an abort is a local reply
        # the router never sees (so never retried), and the route timeout only
        # starts once a delay is over.
        delayed = ""
        if rule.fault is not None:
            draw = fault_draw(rule.fault, self.rng)
            if draw.delay_s:
                delayed = "DI"
                await asyncio.sleep(draw.delay_s)
            if draw.abort_status is not None:
                return self._reply(fault_abort(draw.abort_status), here, started, delayed)
        if rule.redirect is not None:
            return self._reply(redirect_reply(rule.redirect, request.host, request.path_qs, _listener_port(request)),
                               here, started)
        if rule.directResponse is not None:
            return self._reply(direct_reply(rule.directResponse), here, started)
        return await self._route(request, rule, view, body, table, started, delayed)

    async def _route(self, request: web.Request, rule: HTTPRoute, view: RequestView, body: bytes,
                     table: RoutingTable, started: float, delayed: str) -> web.StreamResponse:
        """A rule's `route` action: pick a destination, mirror, forward."""
        dest = pick_destination(rule.route or [], self.rng)
        self._mirror(rule, request, body, table)
        cluster = table.cluster(dest.destination.host, dest.destination.subset)
        service = Destination(short_host(dest.destination.host), table.topology.namespace)
        if cluster is None:
            return self._reply(NO_CLUSTER, service, started, delayed)
        headers = _forwardable(request.headers)
        headers["host"] = dest.destination.host
        headers.setdefault("x-request-id", str(uuid.uuid4()))
        headers["x-forwarded-for"] = request.remote or "127.0.0.1"
        _apply_ops(headers, _ops(rule.headers, "request"))
        _apply_ops(headers, _ops(dest.headers, "request"))
        # pilot's TranslateRoute keeps a faulted rule's timeout and retries
        timeout = seconds(rule.timeout)
        hash_key = cluster.balancer.policy.hash_key(
            view.headers, _cookies(view.headers.get("cookie")), request.remote or "", dict(view.query))
        hashes = len(rule.route or []) == 1 and route_hashes(table.config, cluster.host, cluster.subset)
        leg = _Leg(request, cluster, service, headers, body,
                   RetryPolicy.from_route(rule.retries, hashes, table.istio),
                   None if timeout is None else self.clock() + timeout,
                   (_ops(rule.headers, "response"), _ops(dest.headers, "response")), started, hash_key, delayed,
                   table.client_region if table.topology.sidecars else None)
        return await self._forward(leg)

    # -- upstream with retries -----------------------------------------------
    async def _forward(self, leg: _Leg) -> web.StreamResponse:
        """Attempts until one gives an answer to send back; each retry on
        another host where the retry policy says so, after a back-off."""
        attempt = 0
        try:
            while True:
                ejected = leg.cluster.ejected()
                ep = leg.cluster.balancer.choose(
                    self.rng, ejected, leg.hash_key,
                    avoid=leg.tried if leg.policy.ignore_previous_hosts else frozenset(),
                    panic_threshold=leg.cluster.panic_threshold)
                if ep is None:
                    return self._reply(NO_HEALTHY, leg.service, leg.started, leg.fault_flags)
                answer = await self._attempt(leg, ep, attempt)
                if isinstance(answer, LocalReply):
                    return self._reply(answer, self._dest(leg.service, ep), leg.started, leg.fault_flags)
                if answer is not None:
                    return answer
                self.telemetry.retries.labels(leg.cluster.name).inc()
                leg.tried.add(ep.pod)
                attempt += 1
                await asyncio.sleep(leg.policy.backoff(attempt, self.rng))
        finally:
            for _ in range(leg.retries_held):
                leg.cluster.pool.retry_done()

    async def _attempt(self, leg: _Leg, ep: Endpoint, attempt: int) -> web.StreamResponse | LocalReply | None:
        """One try on `ep` under the cluster's circuit breaker: the answer sent
        back, a local reply, or None to retry."""
        cluster = leg.cluster
        try:
            await cluster.pool.acquire()
        except Overflow:
            self.telemetry.overflow.labels(cluster.name).inc()
            return OVERFLOW
        cluster.balancer.active[ep.pod] = cluster.balancer.active.get(ep.pod, 0) + 1
        try:
            head = await self._response_head(leg, ep, attempt)
            if isinstance(head, UpstreamExchange):
                retriable = leg.policy.retriable_status(head.status, dict(head.headers))
                if self._may_retry(leg, retriable, attempt):
                    head.close()
                    self._inbound(leg, ep, head.status, "")
                    return None
                return await self._stream_back(leg, head, ep, attempt + 1, retries_exhausted(leg.policy, retriable, attempt))
            if isinstance(head, SidecarReply):
                retriable = leg.policy.retriable_status(head.status, {})
                if self._may_retry(leg, retriable, attempt):
                    return None
                return replace(head, flags=retries_exhausted(leg.policy, retriable, attempt),
                               headers=(*head.headers, (ATTRIBUTION_HEADER, self._attribution(leg, ep, attempt + 1))))
            if isinstance(head, LocalReply):
                return head
            if self._may_retry(leg, leg.policy.retriable_failure(head), attempt):
                return None
            return upstream_failure(head, retried=attempt > 0)
        finally:
            cluster.balancer.active[ep.pod] -= 1
            cluster.pool.release()

    def _may_retry(self, leg: _Leg, retriable: bool, attempt: int) -> bool:
        """Retriable, attempts left, and a slot in the cluster's retry budget."""
        if retriable and attempt < leg.policy.attempts and leg.cluster.pool.try_retry():
            leg.retries_held += 1
            return True
        return False

    async def _response_head(self, leg: _Leg, ep: Endpoint, attempt: int) -> UpstreamExchange | Failure | LocalReply:
        """Send the request to `ep` and wait for the response head within the
        per-try and route timeouts; outlier detection sees the outcome."""
        leg.headers["x-envoy-attempt-count"] = str(attempt + 1)
        remaining = None if leg.deadline is None else max(0.0, leg.deadline - self.clock())
        limit, route_limited = attempt_limit(leg.policy.per_try_timeout, remaining)
        exchange: UpstreamExchange | None = None
        try:
            exchange = await leg.cluster.connections.send(*address_of(ep.url), leg.request.method,
                                                          leg.request.path_qs, leg.headers, leg.body,
                                                          min(leg.cluster.connect_timeout, limit))
            await asyncio.wait_for(asyncio.shield(exchange.head), None if limit == math.inf else max(0.0, limit))
        except TimeoutError:
            self._outlier(leg.cluster, ep, None)
            if exchange is not None:
                exchange.close()
                self._inbound(leg, ep, 0, "DC")  # the pod's sidecar saw the gateway give up
            if route_limited:
                return TIMEOUT
            return Failure.PER_TRY_TIMEOUT if exchange is not None else Failure.CONNECT
        except UpstreamReset:
            return self._failed_before_head(leg, ep, Failure.RESET)
        except ConnectionRefusedError:
            return self._failed_before_head(leg, ep, Failure.CONNECT)
        except OSError:
            self._outlier(leg.cluster, ep, None)
            return Failure.CONNECT
        except BaseException:
            if exchange is not None:  # the client went away: drop the upstream request too
                exchange.close()
            raise
        self._outlier(leg.cluster, ep, exchange.status)
        return exchange

    def _failed_before_head(self, leg: _Leg, ep: Endpoint, failure: Failure) -> Failure | SidecarReply:
        """The pod's application refused the connection or reset it before a
        response head. Behind a sidecar (a pod in the gateway's own network)
        the gateway gets the sidecar's 503 instead of the failure itself."""
        if leg.sidecar_region == ep.region:
            self._outlier(leg.cluster, ep, 503)
            self._inbound(leg, ep, 503, "UF" if failure is Failure.CONNECT else "UC")
            return sidecar_reply(failure)
        self._outlier(leg.cluster, ep, None)
        return failure

    def _inbound(self, leg: _Leg, ep: Endpoint, code: int, flags: str) -> None:
        """What the pod's sidecar reports (reporter="destination") for an attempt
        that reached it."""
        self.telemetry.record(self._dest(leg.service, ep), code, flags, (time.perf_counter() - leg.started) * 1000,
                              reporter="destination")

    def _outlier(self, cluster: Cluster, ep: Endpoint, status: int | None) -> None:
        if cluster.outlier is not None and cluster.outlier.record(ep.pod, status, self.clock()):
            log.info("outlier detection ejected %s from %s", ep.pod, cluster.name)
            self.telemetry.ejections_total.labels(cluster.name).inc()
            self.telemetry.ejections_active.labels(cluster.name).set(len(cluster.ejected()))

    @staticmethod
    def _attribution(leg: _Leg, ep: Endpoint, attempts: int) -> str:
        return (f"pod={ep.pod};workload={ep.workload};subset={leg.cluster.subset or ''};region={ep.region};"
                f"version={ep.label('version') or ''};service={leg.cluster.host};attempts={attempts}")

    def _response_headers(self, leg: _Leg, upstream: UpstreamExchange, ep: Endpoint,
                          attempts: int) -> CIMultiDict[str]:
        out = _forwardable(upstream.headers)
        out[ATTRIBUTION_HEADER] = self._attribution(leg, ep, attempts)
        for ops in leg.response_ops:
            _apply_ops(out, ops)
        return out

    async def _stream_back(self, leg: _Leg, upstream: UpstreamExchange, ep: Endpoint,
                           attempts: int, flags: str) -> web.StreamResponse:
        """Send the head, then splice the body to the client until it ends, the
        route timeout fires or the upstream goes away."""
        inbound = ""
        try:
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason or None,
                                      headers=self._response_headers(leg, upstream, ep, attempts))
            if upstream.chunked:
                resp.enable_chunked_encoding()
            elif upstream.length is not None:
                resp.content_length = upstream.length
            await resp.prepare(leg.request)
            await resp.write(b"")  # the head leaves now; body bytes follow it on the raw transport
            transport = leg.request.transport
            if transport is None:
                raise ConnectionResetError("client went away")
            # Chunked bodies pass with their framing (both sides are chunked), so
            # the splice is byte for byte; the client side adds the final chunk.
            upstream.attach(transport.write)
            try:
                remaining = None if leg.deadline is None else max(0.0, leg.deadline - self.clock())
                await asyncio.wait_for(asyncio.shield(upstream.finished), remaining)
            except TimeoutError:
                flags = join_flags(flags, "UT")  # the route timeout fired mid-stream: Envoy resets the stream
                inbound = "DC"
                transport.close()
                return resp
            except UpstreamReset:
                # the upstream closed mid-body: Envoy's codec client resets the
                # stream with ConnectionTermination (UC); the client sees a cut stream
                flags = join_flags(flags, "UC")
                inbound = "UC"
                self._outlier(leg.cluster, ep, None)
                transport.close()
                return resp
            try:
                await resp.write_eof()
            except ConnectionResetError:
                pass  # the client had the whole body and hung up before the last chunk: not an error
            return resp
        finally:
            upstream.close()
            self._inbound(leg, ep, upstream.status, inbound)
            self.telemetry.record(self._dest(leg.service, ep), upstream.status, join_flags(flags, leg.fault_flags),
                                  (time.perf_counter() - leg.started) * 1000)

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
            headers = _forwardable(request.headers)
            authority = request.headers.get("host", dest.host).split(":")[0]
            headers["host"] = f"{authority}-shadow"  # as Envoy marks a shadowed request
            task = asyncio.create_task(self._send_mirror(cluster, request.method, request.path_qs, headers, body,
                                                         Destination(short_host(dest.host),
                                                                     table.topology.namespace)))
            self._mirrors.add(task)
            task.add_done_callback(self._mirrors.discard)

    async def _send_mirror(self, cluster: Cluster, method: str, path: str, headers: CIMultiDict[str], body: bytes,
                           service: Destination) -> None:
        """Fire and forget, as Envoy's shadow through its async client: the
        shadow cluster's circuit breakers apply (an overflow drops the copy),
        the answer is read and dropped, failures touch nobody. The gateway
        reports nothing for a mirrored request; the shadow pod's sidecar reports
        it (reporter="destination"), istio#23496."""
        started = time.perf_counter()
        ep = cluster.balancer.choose(self.rng, cluster.ejected())
        if ep is None:
            return
        try:
            await cluster.pool.acquire()
        except Overflow:
            self.telemetry.overflow.labels(cluster.name).inc()
            return
        exchange: UpstreamExchange | None = None
        try:
            exchange = await cluster.connections.send(*address_of(ep.url), method, path, headers, body,
                                                      cluster.connect_timeout)
            await asyncio.wait_for(exchange.read_all(), 600)
            self.telemetry.record(self._dest(service, ep), exchange.status, "", (time.perf_counter() - started) * 1000,
                                  reporter="destination")
        except (TimeoutError, UpstreamReset, OSError):
            pass  # a shadow that fails is nobody's concern, and its sidecar saw no answer to report
        finally:
            cluster.pool.release()
            if exchange is not None:
                exchange.close()

    # -- replies and telemetry -----------------------------------------------
    def _dest(self, service: Destination, ep: Endpoint | None) -> Destination:
        if ep is None:
            return service
        return Destination(service.service, service.namespace, ep.workload, ep.label("version") or UNKNOWN,
                           ep.label("app") or UNKNOWN, ep.region or UNKNOWN)

    def _reply(self, reply: LocalReply, dest: Destination, started: float, fault_flags: str = "") -> web.Response:
        self.telemetry.record(dest, reply.status, join_flags(reply.flags, fault_flags),
                              (time.perf_counter() - started) * 1000)
        return web.Response(status=reply.status, body=reply.body, headers=CIMultiDict(reply.headers))


def _listener_port(request: web.Request) -> int:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else 80


def _cookies(header: str | None) -> dict[str, str]:
    if not header:
        return {}
    c = SimpleCookie()
    try:
        c.load(header)
    except Exception:  # a malformed cookie header hashes as no cookie
        return {}
    return {k: m.value for k, m in c.items()}
