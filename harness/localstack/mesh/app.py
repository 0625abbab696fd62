"""The mesh proxy process: the gateway listener, the admin listener (health,
telemetry, Kubernetes-shaped Istio object API), the endpoint watch on the
orchestrator, config reloads and outlier-detection ticks."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from pathlib import Path

import aiohttp

from harness.diagnostics import ConfigError
from harness.istio.config import MeshConfig
from harness.istio.destination_rule import DestinationRule
from harness.istio.loading import load_mesh_config
from harness.istio.virtual_service import VirtualService
from harness.localstack.looplag import SelfMetrics
from harness.localstack.mesh.proxy import MeshProxy
from harness.localstack.mesh.routing import RoutingTable
from harness.localstack.mesh.telemetry import MeshTelemetry
from harness.localstack.topology import Topology, topology_registry

__all__ = ["MeshApp", "IstioObject"]

log = logging.getLogger("mesh")
IstioObject = VirtualService | DestinationRule


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
        self.self_metrics = SelfMetrics(self.telemetry.registry, "mesh", "mesh")
        self.proxy = MeshProxy(RoutingTable(self._effective(), topology, gateway_region), self.telemetry,
                               default_host)
        self.endpoints_version = -1
        self.reloads = 0
        self._digests = self._scan()
        self._tasks: list[asyncio.Task[None]] = []
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

    # -- the objects the admin API serves ---------------------------------------
    def objects(self, kind: str) -> list[IstioObject]:
        """The effective objects of one kind ("VirtualService" or "DestinationRule")."""
        cfg = self._effective()
        return list(cfg.virtual_services if kind == "VirtualService" else cfg.destination_rules)

    def find(self, kind: str, name: str) -> IstioObject | None:
        return next((o for o in self.objects(kind) if o.metadata.name == name), None)

    def override(self, kind: str, obj: IstioObject) -> None:
        """Serve `obj` instead of the file object of that kind and name, from now on."""
        self.overrides[(kind, obj.metadata.name)] = obj
        self._swap()

    def revert(self, kind: str, name: str) -> bool:
        """Back to the files' object; False if there was no override."""
        removed = self.overrides.pop((kind, name), None)
        self._swap()
        return removed is not None

    # -- background tasks ----------------------------------------------------
    async def start(self) -> None:
        # the orchestrator watch's own client; the data path does not use aiohttp's
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        await self._refresh_endpoints(wait=False)
        self._tasks = [asyncio.create_task(self._watch_endpoints(), name="endpoints"),
                       asyncio.create_task(self._watch_files(), name="files"),
                       asyncio.create_task(self._outlier_ticks(), name="outlier")]
        self.self_metrics.start()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.self_metrics.stop()
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
