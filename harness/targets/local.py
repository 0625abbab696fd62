"""The embedded local stack as a chaos target, through its admin APIs:
the orchestrator (pods, regions, scaling), the mesh proxy (Istio objects)
and each engine's fault endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from harness.targets.base import PLURALS, IstioKind, NothingMatched, PodInfo, TargetError

__all__ = ["LocalTarget"]


@dataclass
class LocalTarget:
    admin: str
    mesh_admin: str | None
    namespace: str = "llm"
    name: str = "local"
    timeout: float = 10.0

    @classmethod
    def from_stack(cls, stack: str, namespace: str = "llm") -> LocalTarget:
        from harness.localstack.state import read_state

        state = read_state(stack)
        if state is None:
            raise TargetError(f"no local stack named {stack!r} is running (start one with "
                              "`harness stack up --detach`, or set configuration harness_stack)")
        return cls(state.admin, state.mesh_admin, namespace)

    def _call(self, method: str, url: str, **kw: Any) -> dict[str, Any]:
        try:
            r = httpx.request(method, url, timeout=self.timeout, **kw)
        except httpx.HTTPError as exc:
            raise TargetError(f"local stack unreachable at {url}: {exc}") from None
        try:
            data = r.json() if r.content else {}
        except ValueError:
            data = r.text
        if r.status_code >= 400:
            detail = (data.get("error") or data.get("message")) if isinstance(data, dict) else None
            raise TargetError(f"{method} {url}: {r.status_code} {detail or r.text}")
        if not isinstance(data, dict):
            raise TargetError(f"{method} {url}: answered {type(data).__name__}, not a JSON object")
        return data

    def check_namespace_allowed(self, namespace: str) -> None:
        if namespace != self.namespace:
            raise TargetError(f"namespace {namespace!r} is not the local stack's ({self.namespace!r})")

    def list_pods(self, selector: str, namespace: str | None = None) -> list[PodInfo]:
        self.check_namespace_allowed(namespace or self.namespace)
        data = self._call("GET", f"{self.admin}/pods", params={"selector": selector})
        pods = [PodInfo(name=p["name"], namespace=p["namespace"], labels=p["labels"], ready=p["ready"],
                        phase=p["phase"], region=p.get("region"), restarts=p.get("restarts", 0), url=p["url"])
                for p in data["pods"]]
        if not pods:
            raise NothingMatched(f"selector {selector!r} matches no pod in namespace {self.namespace!r}")
        return pods

    def delete_pod(self, name: str, grace_period_s: float = 0, namespace: str | None = None) -> None:
        self.check_namespace_allowed(namespace or self.namespace)
        self._call("DELETE", f"{self.admin}/pods/{name}", params={"grace_period": str(grace_period_s)})

    def deployments(self, selector: str, namespace: str | None = None) -> dict[str, int]:
        data = self._call("GET", f"{self.admin}/deployments")
        from harness.selectors import parse_selector

        sel = parse_selector(selector)
        return {d["name"]: d["replicas"] for d in data["deployments"] if sel.matches(d.get("labels", {}))}

    def scale(self, deployment: str, replicas: int, namespace: str | None = None) -> int:
        before = self.deployments("").get(deployment)
        if before is None:
            raise NothingMatched(f"no deployment named {deployment!r}")
        self._call("POST", f"{self.admin}/deployments/{deployment}/scale", json={"replicas": replicas})
        return before

    def _istio_url(self, kind: IstioKind, name: str, namespace: str | None) -> str:
        if not self.mesh_admin:
            raise TargetError("the local stack runs without the mesh proxy (--no-mesh): no Istio objects")
        return f"{self.mesh_admin}/apis/networking.istio.io/v1/namespaces/{namespace or self.namespace}/" \
               f"{PLURALS[kind]}/{name}"

    def get_istio(self, kind: IstioKind, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self._call("GET", self._istio_url(kind, name, namespace))

    def replace_istio(self, kind: IstioKind, name: str, obj: dict[str, Any],
                      namespace: str | None = None) -> dict[str, Any]:
        return self._call("PUT", self._istio_url(kind, name, namespace), json=obj)

    def _hpa_url(self, name: str, namespace: str | None) -> str:
        return f"{self.admin}/apis/autoscaling/v2/namespaces/{namespace or self.namespace}/" \
               f"horizontalpodautoscalers/{name}"

    def get_hpa(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        return self._call("GET", self._hpa_url(name, namespace))

    def replace_hpa(self, name: str, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        self.check_namespace_allowed(namespace or self.namespace)
        return self._call("PUT", self._hpa_url(name, namespace), json=obj)

    def engine_fault(self, pod: PodInfo, fault: dict[str, Any]) -> None:
        self._call("POST", f"{pod.url}/admin/faults", json=fault)

    def clear_engine_fault(self, pod: PodInfo, kind: str | None = None) -> None:
        self._call("DELETE", f"{pod.url}/admin/faults" + (f"/{kind}" if kind else ""))

    def engine_faults(self, pod: PodInfo) -> dict[str, Any]:
        active = self._call("GET", f"{pod.url}/admin/faults").get("active")
        return active if isinstance(active, dict) else {}

    def region_down(self, region: str, mode: str) -> dict[str, Any]:
        local_mode = {"kill": "kill", "blackhole": "freeze"}.get(mode)
        if local_mode is None:
            raise TargetError(f"region_outage mode {mode!r}: use kill or blackhole")
        self._call("POST", f"{self.admin}/regions/{region}/stop", json={"mode": local_mode})
        return {"region": region}

    def region_up(self, region: str, undo: dict[str, Any]) -> None:
        self._call("POST", f"{self.admin}/regions/{region}/start")

    def region_outage_missing(self, region: str, mode: str, undo: dict[str, Any]) -> str | None:
        """The orchestrator reports each region's state (`up`, `kill`, `freeze`)."""
        states = {r["name"]: r["state"] for r in self._call("GET", f"{self.admin}/regions")["regions"]}
        if region not in states:
            raise NothingMatched(f"the local stack has no region {region!r} (its regions: {sorted(states)})")
        return None if states[region] != "up" else f"region {region} still reports up"
