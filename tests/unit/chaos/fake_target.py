"""A fake target: in memory, no sockets, behind the `Target` protocol."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from harness.selectors import parse_selector
from harness.targets.base import IstioKind, NothingMatched, PodInfo, TargetError


@dataclass
class FakeTarget:
    """Pods come back (ready) when deleted, as a controller would, after
    `recreate_after` list calls; writes can be made to fail or be dropped."""

    pods: dict[str, PodInfo] = field(default_factory=dict)
    istio: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)
    name: str = "fake"
    namespace: str = "llm"
    recreate_after: int = 1
    fail_delete: bool = False
    drop_writes: bool = False
    region_comes_back: bool = True
    # list calls a dead (OOM'd) engine's pod still reads ready before its
    # process exits, as when the kubelet's readiness probe has not caught up
    oom_exits_after: int = 0
    calls: list[str] = field(default_factory=list)
    _down: dict[str, int] = field(default_factory=dict)
    _dying: dict[str, int] = field(default_factory=dict)

    def add_pod(self, name: str, **labels: str) -> None:
        self.pods[name] = PodInfo(name=name, namespace=self.namespace, labels=labels, ready=True, phase="Running",
                                  region=labels.get("region"))
        if "region" in labels:
            self.regions.setdefault(labels["region"], "up")

    def _tick(self) -> None:
        for pod, left in list(self._dying.items()):
            if left <= 0:
                del self._dying[pod]
                self.faults.get(pod, {}).pop("gpu_oom", None)
                self.delete_pod(pod)
            else:
                self._dying[pod] = left - 1
        for pod, left in list(self._down.items()):
            if left <= 0:
                p = self.pods[pod]
                self.pods[pod] = replace(p, ready=self.regions.get(p.region or "", "up") == "up")
                del self._down[pod]
            else:
                self._down[pod] = left - 1

    def list_pods(self, selector: str, namespace: str | None = None) -> list[PodInfo]:
        self.check_namespace_allowed(namespace or self.namespace)
        self._tick()
        sel = parse_selector(selector)
        found = [p for p in self.pods.values() if sel.matches(p.labels)]
        if not found:
            raise NothingMatched(f"selector {selector!r} matches no pod in namespace {self.namespace!r}")
        return found

    def delete_pod(self, name: str, grace_period_s: float = 0, namespace: str | None = None) -> None:
        self.calls.append(f"delete {name}")
        if self.fail_delete:
            raise TargetError(f"delete pod {name}: 403 Forbidden")
        p = self.pods[name]
        self.pods[name] = replace(p, ready=False, restarts=p.restarts + 1)
        self._down[name] = self.recreate_after

    def scale(self, deployment: str, replicas: int, namespace: str | None = None) -> int:
        raise TargetError("the fake has no deployments")

    def deployments(self, selector: str, namespace: str | None = None) -> dict[str, int]:
        return {}

    def get_istio(self, kind: IstioKind, name: str, namespace: str | None = None) -> dict[str, Any]:
        try:
            return copy.deepcopy(self.istio[(kind, name)])
        except KeyError:
            raise TargetError(f"get {kind} {name}: 404 Not Found") from None

    def replace_istio(self, kind: IstioKind, name: str, obj: dict[str, Any],
                      namespace: str | None = None) -> dict[str, Any]:
        self.calls.append(f"replace {kind}/{name}")
        if not self.drop_writes:
            version = int(self.istio[(kind, name)]["metadata"].get("resourceVersion", "1")) + 1
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(version)
            self.istio[(kind, name)] = stored
        return obj

    def engine_fault(self, pod: PodInfo, fault: dict[str, Any]) -> None:
        self.calls.append(f"fault {pod.name} {fault['kind']}")
        if self.drop_writes:
            return
        if fault["kind"] == "gpu_oom":  # the engine dies and its pod restarts
            if self.oom_exits_after:
                self.faults.setdefault(pod.name, {})["gpu_oom"] = fault
                self._dying[pod.name] = self.oom_exits_after
            else:
                self.delete_pod(pod.name)
            return
        self.faults.setdefault(pod.name, {})[fault["kind"]] = fault

    def clear_engine_fault(self, pod: PodInfo, kind: str | None = None) -> None:
        self.calls.append(f"clear {pod.name} {kind}")
        if not self.pods[pod.name].ready:
            raise TargetError(f"{pod.name} does not answer")
        self.faults.get(pod.name, {}).pop(kind or "", None)

    def engine_faults(self, pod: PodInfo) -> dict[str, Any]:
        return dict(self.faults.get(pod.name, {}))

    def region_down(self, region: str, mode: str) -> dict[str, Any]:
        self.calls.append(f"region down {region} {mode}")
        self.regions[region] = mode
        for p in self.pods.values():
            if p.region == region:
                self.pods[p.name] = replace(p, ready=False)
        return {"was": "up"}

    def region_up(self, region: str, undo: dict[str, Any]) -> None:
        self.calls.append(f"region up {region} {undo}")
        self.regions[region] = "up"
        if self.region_comes_back:
            for p in self.pods.values():
                if p.region == region:
                    self._down[p.name] = self.recreate_after

    def region_outage_missing(self, region: str, mode: str, undo: dict[str, Any]) -> str | None:
        return None if self.regions.get(region) == mode else f"region {region} still reports up"

    def check_namespace_allowed(self, namespace: str) -> None:
        if namespace != self.namespace:
            raise TargetError(f"namespace {namespace!r} is not open to chaos")


def chat_target() -> FakeTarget:
    """Four chat pods (two per region) and a VirtualService with two named routes."""
    t = FakeTarget()
    for region in ("us-east", "eu-west"):
        for i in range(2):
            t.add_pod(f"chat-{region}-{i}", app="chat", version="v1", region=region)
    t.istio[("VirtualService", "chat")] = {
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "chat", "namespace": "llm", "resourceVersion": "1", "uid": "u-1"},
        "spec": {"hosts": ["chat"], "http": [
            {"name": "pinned-v1", "match": [{"headers": {"x-version": {"exact": "v1"}}}],
             "route": [{"destination": {"host": "chat", "subset": "v1"}}]},
            {"name": "default", "route": [{"destination": {"host": "chat", "subset": "v1"}}]}]},
        "status": {"observed": True}}
    return t
