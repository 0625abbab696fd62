"""The local orchestrator: Deployments, pods, readiness, regions and HPAs.

It plays the parts of the Kubernetes control plane the harness relies on:
the ReplicaSet controller (keep N pods per Deployment, replace deleted ones),
the kubelet (start, restart with back-off, probe readiness), the HPA
controller, and kube-state-metrics (see `kube_metrics.py`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from harness.localstack.orchestrator.hpa import HPAController, PodMetric
from harness.localstack.orchestrator.pods import Pod
from harness.localstack.topology import HPA, Deployment, Topology
from harness.selectors import LabelSelector

__all__ = ["Orchestrator", "HPAStatus"]

log = logging.getLogger(__name__)

_STARTUP_PROBE_INTERVAL = 0.1  # pods not yet ready are probed often so they join quickly


class HPAStatus:
    def __init__(self, spec: HPA, current: int) -> None:
        self.spec = spec
        self.controller = _controller(spec)
        self.current_replicas = current
        self.desired_replicas = current
        self.current_average: float | None = None
        self.last_scale_time: float | None = None

    def replace_spec(self, spec: HPA) -> None:
        """A new spec (an HPA object replaced through the admin API); the
        controller keeps its recommendation history, as kube-controller-manager
        keeps it per HPA across spec updates."""
        history = self.controller.history
        self.spec = spec
        self.controller = _controller(spec)
        self.controller.history = history

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.spec.name,
            "deployment": self.spec.deployment,
            "minReplicas": self.spec.min_replicas,
            "maxReplicas": self.spec.max_replicas,
            "metric": self.spec.metric,
            "targetAverageValue": self.spec.target_average_value,
            "currentAverageValue": self.current_average,
            "currentReplicas": self.current_replicas,
            "desiredReplicas": self.desired_replicas,
            "lastScaleTime": self.last_scale_time,
        }


def _controller(spec: HPA) -> HPAController:
    return HPAController(
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        target=spec.target_average_value,
        tolerance=spec.tolerance,
        scale_up_window=spec.behavior.scale_up.stabilization_window,
        scale_down_window=spec.behavior.scale_down.stabilization_window,
        scale_up_disabled=spec.behavior.scale_up.select_policy == "Disabled",
        scale_down_disabled=spec.behavior.scale_down.select_policy == "Disabled",
    )


class Orchestrator:
    def __init__(self, topology: Topology, run_dir: Path) -> None:
        self.topology = topology
        self.run_dir = run_dir
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.desired: dict[str, int] = {d.name: d.replicas for d in topology.deployments}
        self.pods: dict[str, Pod] = {}
        self.hpas = {h.name: HPAStatus(h, topology.deployment(h.deployment).replicas) for h in topology.hpas}
        self.stopped_regions: dict[str, str] = {}
        self.version = 0
        self._ordinals = {d.name: itertools.count() for d in topology.deployments}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._next_probe: dict[str, float] = {}
        self._listeners: list[asyncio.Event] = []
        self.closing = False

    # ---- change notification ----------------------------------------------
    def notify(self) -> None:
        self.version += 1
        for event in self._listeners:
            event.set()

    async def wait_for_change(self, seen_version: int, timeout: float) -> int:
        """Long-poll support: return when the version moves past `seen_version` or on timeout."""
        if self.version != seen_version:
            return self.version
        event = asyncio.Event()
        self._listeners.append(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._listeners.remove(event)
        return self.version

    # ---- pods -----------------------------------------------------------
    def deployment_pods(self, name: str) -> list[Pod]:
        return [p for p in self.pods.values() if p.deployment.name == name and not p.deleted]

    def select(self, selector: LabelSelector, ready_only: bool = False) -> list[Pod]:
        return [
            p for p in self.pods.values()
            if not p.deleted and selector.matches(p.labels) and (p.ready or not ready_only)
        ]

    def _new_pod(self, deployment: Deployment) -> Pod:
        name = f"{deployment.name}-{next(self._ordinals[deployment.name])}"
        pod = Pod(
            name=name,
            deployment=deployment,
            namespace=self.topology.namespace,
            run_dir=self.run_dir,
            backoff=self.topology.restart_backoff,
            on_change=self.notify,
        )
        if deployment.region in self.stopped_regions:
            pod.region_down = self.stopped_regions[deployment.region]
        self.pods[name] = pod
        pod.start()
        self.notify()
        return pod

    async def reconcile(self, deployment_name: str) -> None:
        """The ReplicaSet controller: create or delete pods to match the desired count."""
        deployment = self.topology.deployment(deployment_name)
        pods = self.deployment_pods(deployment_name)
        want = self.desired[deployment_name]
        for _ in range(want - len(pods)):
            self._new_pod(deployment)
        if len(pods) > want:
            # Scale down removes the newest pods first, and unready ones before ready ones.
            victims = sorted(pods, key=lambda p: (p.ready, -p.created_at))[: len(pods) - want]
            await asyncio.gather(*(self._delete(p, grace_period=1.0) for p in victims))

    async def _delete(self, pod: Pod, grace_period: float) -> None:
        await pod.delete(grace_period)
        self.pods.pop(pod.name, None)
        self.notify()

    async def delete_pod(self, name: str, grace_period: float = 0.0) -> None:
        pod = self.pods[name]
        await self._delete(pod, grace_period)
        if not self.closing:
            await self.reconcile(pod.deployment.name)

    async def scale(self, deployment_name: str, replicas: int) -> None:
        self.topology.deployment(deployment_name)  # KeyError for unknown names
        self.desired[deployment_name] = replicas
        self.notify()
        await self.reconcile(deployment_name)

    # ---- regions --------------------------------------------------------
    def stop_region(self, region: str, mode: str) -> list[str]:
        self.stopped_regions[region] = mode
        pods = [p for p in self.pods.values() if p.region == region and not p.deleted]
        for pod in pods:
            pod.region_stop(mode)
        self.notify()
        return [p.name for p in pods]

    def start_region(self, region: str) -> list[str]:
        self.stopped_regions.pop(region, None)
        pods = [p for p in self.pods.values() if p.region == region and not p.deleted]
        for pod in pods:
            pod.region_start()
        self.notify()
        return [p.name for p in pods]

    # ---- run loops ------------------------------------------------------
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        for d in self.topology.deployments:
            await self.reconcile(d.name)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._probe_loop(), name="readiness-prober"))
        for status in self.hpas.values():
            self._tasks.append(loop.create_task(self._hpa_loop(status), name=f"hpa-{status.spec.name}"))

    def all_ready(self) -> bool:
        pods = [p for p in self.pods.values() if not p.deleted and not p.region_down]
        counts_ok = all(len(self.deployment_pods(d)) == n for d, n in self.desired.items())
        return counts_ok and all(p.ready for p in pods)

    async def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.all_ready():
                return True
            await self.wait_for_change(self.version, min(0.5, max(0.0, deadline - time.monotonic())))
        return self.all_ready()

    async def stop(self) -> None:
        self.closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(p.delete(grace_period=2.0) for p in list(self.pods.values())),
                             return_exceptions=True)
        if self._session:
            await self._session.close()

    async def _probe(self, pod: Pod) -> None:
        assert self._session is not None
        timeout = self.topology.readiness_probe.timeout
        try:
            async with self._session.get(f"{pod.url}/health", timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                healthy = r.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            healthy = False
        if pod.pid is not None:  # the process may have died while we probed
            pod.probe_result(healthy, self.topology.readiness_probe.failure_threshold)

    async def _probe_loop(self) -> None:
        period = self.topology.readiness_probe.period
        while True:
            now = time.monotonic()
            due = []
            for pod in list(self.pods.values()):
                if pod.deleted or pod.region_down or pod.pid is None:
                    continue
                if now >= self._next_probe.get(pod.name, 0.0):
                    due.append(pod)
                    interval = period if pod.ready else _STARTUP_PROBE_INTERVAL
                    self._next_probe[pod.name] = now + interval
            if due:
                await asyncio.gather(*(self._probe(p) for p in due))
            await asyncio.sleep(_STARTUP_PROBE_INTERVAL)

    async def _pod_metric(self, pod: Pod, metric: str) -> float | None:
        assert self._session is not None
        try:
            async with self._session.get(f"{pod.url}/metrics", timeout=aiohttp.ClientTimeout(total=1.0)) as r:
                text = await r.text()
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None
        total, seen = 0.0, False
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == metric:
                    total += sample.value
                    seen = True
        return total if seen else None

    async def hpa_sync(self, status: HPAStatus) -> None:
        """One HPA controller sync: read the metric from every pod, decide, scale."""
        spec = status.spec
        pods = [p for p in self.deployment_pods(spec.deployment) if not p.region_down]
        values = await asyncio.gather(*(self._pod_metric(p, spec.metric) if p.ready else _none() for p in pods))
        metrics = [PodMetric(p.ready, v) for p, v in zip(pods, values, strict=True)]
        known = [m.value for m in metrics if m.value is not None]
        status.current_average = sum(known) / len(known) if known else None
        current = self.desired[spec.deployment]
        desired = status.controller.decide(time.monotonic(), current, metrics)
        status.current_replicas = len(pods)
        status.desired_replicas = desired
        if desired != current:
            log.info("hpa %s: %d -> %d (average %s)", spec.name, current, desired, status.current_average)
            status.last_scale_time = time.time()
            await self.scale(spec.deployment, desired)

    async def _hpa_loop(self, status: HPAStatus) -> None:
        while True:
            await asyncio.sleep(status.spec.sync_period)
            try:
                await self.hpa_sync(status)
            except Exception:  # keep the controller alive, as kube-controller-manager does
                log.exception("hpa %s sync failed", status.spec.name)


async def _none() -> None:
    return None
