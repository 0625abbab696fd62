"""The mesh proxy process: the gateway listener, the admin listener (health,
telemetry, Kubernetes-shaped Istio object API), the endpoint watch on the
orchestrator, config reloads and outlier-detection ticks."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from harness.diagnostics import ConfigError
from harness.istio.config import MeshConfig
from harness.istio.destination_rule import DestinationRule
from harness.istio.loading import load_mesh_config
from harness.istio.virtual_service import VirtualService
from harness.localstack.mesh.proxy import MeshProxy
from harness.localstack.mesh.routing import RoutingTable
from harness.localstack.mesh.telemetry import MeshTelemetry
from harness.localstack.topology import Topology, topology_registry

__all__ = ["MeshApp"]

log = logging.getLogger("mesh")
_KINDS = {"virtualservices": ("VirtualService", VirtualService), "destinationrules": ("DestinationRule",
                                                                                     DestinationRule)}


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as `kubectl patch --type merge` sends."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


class MeshApp:
    def __init__(self, topology: Topology, istio: list[Path], orchestrator: str, gateway_region: str) -> None:
        self.topology = topology
        self.istio = istio
        self.orchestrator = orchestrator.rstrip("/")
        self.file_config = load_mesh_config(istio, topology_registry(topology))
        # Objects put or patched through the admin API override files by (kind, name).
        self.overrides: dict[tuple[str, str], VirtualService | DestinationRule] = {}
        default_host = self._default_host()
        self.telemetry = MeshTelemetry(gateway_region)
        self.proxy = MeshProxy(RoutingTable(self._effective(), topology, gateway_region), self.telemetry,
                               default_host)
        self.endpoints_version = -1
        self.reloads = 0
        self._digests = self._scan()
        self._tasks: list[asyncio.Task] = []
        self.session: aiohttp.ClientSession | None = None

    def _default_host(self) -> str:
        """Requests to the gateway's address take the VirtualService of the
        first Service in the topology (the primary chat service)."""
        return self.topology.services[0].name if self.topology.services else ""

    def _effective(self) -> MeshConfig:
        vs = {v.metadata.name: v for v in self.file_config.virtual_services}
        dr = {d.metadata.name: d for d in self.file_config.destination_rules}
        for (kind, name), obj in self.overrides.items():
            (vs if kind == "VirtualService" else dr)[name] = obj  # type: ignore[assignment]
        return MeshConfig(list(vs.values()), list(dr.values()), self.file_config.warnings, self.file_config.files)

    def _swap(self) -> None:
        self.proxy.table = self.proxy.table.rebuilt(self._effective())
        self.reloads += 1

    # -- background tasks ----------------------------------------------------
    async def start(self) -> None:
        # the orchestrator watch's own client; the data path does not use aiohttp's
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        await self._refresh_endpoints(wait=False)
        self._tasks = [asyncio.create_task(self._watch_endpoints(), name="endpoints"),
                       asyncio.create_task(self._watch_files(), name="files"),
                       asyncio.create_task(self._outlier_ticks(), name="outlier")]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.proxy.close()
        if self.session is not None:
            await self.session.close()

    async def _refresh_endpoints(self, wait: bool) -> None:
        assert self.session is not None
        params = {"ready": "true"}
        if wait:
            params.update(wait=str(self.endpoints_version), timeout="20")
        async with self.session.get(f"{self.orchestrator}/pods", params=params,
                                          timeout=aiohttp.ClientTimeout(total=30)) as r:
            data = await r.json()
        if data["version"] != self.endpoints_version:
            self.endpoints_version = data["version"]
            self.proxy.table.set_pods(data["pods"])

    async def _watch_endpoints(self) -> None:
        while True:
            try:
                await self._refresh_endpoints(wait=True)
            except (TimeoutError, aiohttp.ClientError, OSError, KeyError, ValueError) as exc:
                log.warning("endpoint watch: %s; retrying", exc)
                await asyncio.sleep(0.5)

    def _scan(self) -> dict[str, str]:
        """A digest of every config file's content. Content, not mtime: file
        times tick in jiffies, so a truncate and a rewrite can share one."""
        out = {}
        for d in self.istio:
            paths = [d] if d.is_file() else sorted(d.rglob("*.y*ml")) if d.exists() else []
            for p in paths:
                try:
                    out[str(p)] = hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest()
                except OSError:
                    pass
        return out

    async def _watch_files(self) -> None:
        """Reload on any change, once the files have stopped changing (an
        editor's truncate-then-write must not be read half-way). An invalid
        edit is logged and the last good config keeps serving."""
        while True:
            await asyncio.sleep(0.5)
            now = self._scan()
            if now == self._digests:
                continue
            await asyncio.sleep(0.2)
            settled = self._scan()
            if settled != now:
                continue  # still being written; look again on the next round
            self._digests = settled
            try:
                self.file_config = load_mesh_config(self.istio, topology_registry(self.topology))
            except ConfigError as exc:
                log.error("config change rejected, keeping the previous one:\n%s", exc)
                continue
            self._swap()
            log.info("config reloaded from files (%d reloads)", self.reloads)

    async def _outlier_ticks(self) -> None:
        next_tick: dict[str, float] = {}
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            for c in list(self.proxy.table.clusters.values()):
                if c.outlier is None:
                    continue
                due = next_tick.setdefault(c.name, now + c.outlier.settings.interval_s)
                if now >= due:
                    next_tick[c.name] = now + c.outlier.settings.interval_s
                    back = c.outlier.tick(now)
                    if back:
                        log.info("outlier detection returned %s to %s", ", ".join(back), c.name)
                ejected = c.ejected()
                eps = c.balancer.endpoints()
                self.telemetry.ejections_active.labels(c.name).set(len(ejected))
                self.telemetry.total.labels(c.name).set(len(eps))
                self.telemetry.healthy.labels(c.name).set(sum(e.pod not in ejected for e in eps))

    # -- admin API -----------------------------------------------------------
    def admin_app(self) -> web.Application:
        app = web.Application()
        base = "/apis/networking.istio.io/v1/namespaces/{ns}/{plural}"

        async def healthz(request: web.Request) -> web.Response:
            return web.json_response({"ok": True, "reloads": self.reloads, "endpoints_version": self.endpoints_version})

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=generate_latest(self.telemetry.registry),
                                headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def clusters(request: web.Request) -> web.Response:
            out = []
            for c in self.proxy.table.clusters.values():
                ejected = c.ejected()
                out.append({"name": c.name, "host": c.host, "subset": c.subset,
                            "levels": [[e.pod for e in lvl] for lvl in c.balancer.levels],
                            "ejected": sorted(ejected), "active": c.pool.active, "pending": c.pool.pending,
                            "inflight": {p: n for p, n in c.balancer.active.items() if n},
                            "ejections": {h: s.ejections for h, s in (c.outlier.hosts.items() if c.outlier else [])}})
            return web.json_response({"clusters": out})

        def _lookup(request: web.Request) -> tuple[str, type, str | None]:
            plural = request.match_info["plural"]
            if plural not in _KINDS:
                raise web.HTTPNotFound(text=json.dumps({"message": f"unknown resource {plural}"}),
                                       content_type="application/json")
            kind, model = _KINDS[plural]
            return kind, model, request.match_info.get("name")

        def _current(kind: str, name: str) -> VirtualService | DestinationRule | None:
            cfg = self._effective()
            items = cfg.virtual_services if kind == "VirtualService" else cfg.destination_rules
            return next((o for o in items if o.metadata.name == name), None)

        async def list_objects(request: web.Request) -> web.Response:
            kind, _, _ = _lookup(request)
            cfg = self._effective()
            items = cfg.virtual_services if kind == "VirtualService" else cfg.destination_rules
            return web.json_response({"kind": f"{kind}List", "apiVersion": "networking.istio.io/v1",
                                      "items": [o.model_dump(by_alias=True, exclude_none=True) for o in items]})

        async def get_object(request: web.Request) -> web.Response:
            kind, _, name = _lookup(request)
            obj = _current(kind, name or "")
            if obj is None:
                return _status(404, f'{kind.lower()}s.networking.istio.io "{name}" not found', "NotFound")
            return web.json_response(obj.model_dump(by_alias=True, exclude_none=True))

        async def write_object(request: web.Request) -> web.Response:
            kind, model, name = _lookup(request)
            try:
                payload = await request.json()
            except ValueError:
                return _status(400, "body is not JSON", "BadRequest")
            if request.method == "PATCH":
                obj = _current(kind, name or "")
                if obj is None:
                    return _status(404, f'{kind.lower()}s.networking.istio.io "{name}" not found', "NotFound")
                payload = _merge_patch(obj.model_dump(by_alias=True, exclude_none=True), payload)
            elif request.method == "POST":
                name = (payload.get("metadata") or {}).get("name") if isinstance(payload, dict) else None
            try:
                new = model.model_validate(payload)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                return _status(422, f"{kind} {name} is invalid: {problems}", "Invalid")
            if new.metadata.name != name:
                return _status(400, "metadata.name does not match the URL", "BadRequest")
            self.overrides[(kind, new.metadata.name)] = new
            self._swap()
            log.info("%s/%s replaced through the admin API", kind, name)
            return web.json_response(new.model_dump(by_alias=True, exclude_none=True))

        async def delete_override(request: web.Request) -> web.Response:
            kind, _, name = _lookup(request)
            removed = self.overrides.pop((kind, name or ""), None)
            self._swap()
            return web.json_response({"reverted": removed is not None})

        app.add_routes([
            web.get("/healthz", healthz), web.get("/metrics", metrics), web.get("/clusters", clusters),
            web.get(base, list_objects), web.post(base, write_object),
            web.get(base + "/{name}", get_object), web.put(base + "/{name}", write_object),
            web.patch(base + "/{name}", write_object), web.delete(base + "/{name}", delete_override),
        ])
        return app


def _status(code: int, message: str, reason: str) -> web.Response:
    """A Kubernetes Status object, as the API server answers errors."""
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                              "reason": reason, "code": code}, status=code)
