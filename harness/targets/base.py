"""What chaos actions need from a platform, and how a target is chosen from
a Chaos Toolkit configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["PodInfo", "Target", "TargetError", "NothingMatched", "TargetUnsupported", "get_target",
           "IstioKind", "PLURALS"]

IstioKind = Literal["VirtualService", "DestinationRule"]
PLURALS = {"VirtualService": "virtualservices", "DestinationRule": "destinationrules"}


class TargetError(Exception):
    """The platform refused or could not be reached; the message says which and why."""


class NothingMatched(TargetError):
    """A selector matched no pod: an experiment must never pass by hitting nothing."""


class TargetUnsupported(TargetError):
    """The action has no meaning on this platform (the message names the alternative)."""


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    labels: dict[str, str] = field(hash=False)
    ready: bool
    phase: str
    region: str | None = None
    restarts: int = 0
    url: str | None = None  # local engines only


@runtime_checkable
class Target(Protocol):
    name: str
    namespace: str

    def list_pods(self, selector: str, namespace: str | None = None) -> list[PodInfo]: ...
    def delete_pod(self, name: str, grace_period_s: float = 0, namespace: str | None = None) -> None: ...
    def scale(self, deployment: str, replicas: int, namespace: str | None = None) -> int: ...
    def deployments(self, selector: str, namespace: str | None = None) -> dict[str, int]: ...
    def get_istio(self, kind: IstioKind, name: str, namespace: str | None = None) -> dict[str, Any]: ...
    def replace_istio(self, kind: IstioKind, name: str, obj: dict[str, Any],
                      namespace: str | None = None) -> dict[str, Any]: ...
    def engine_fault(self, pod: PodInfo, fault: dict[str, Any]) -> None: ...
    def clear_engine_fault(self, pod: PodInfo, kind: str | None = None) -> None: ...
    def engine_faults(self, pod: PodInfo) -> dict[str, Any]: ...
    def region_down(self, region: str, mode: str) -> dict[str, Any]: ...
    def region_up(self, region: str, undo: dict[str, Any]) -> None: ...
    def check_namespace_allowed(self, namespace: str) -> None: ...


def get_target(configuration: dict[str, Any] | None) -> Target:
    """`harness_target: local` (the default; `harness_stack` names the stack) or
    `kube` (`harness_kubeconfig`, `harness_kube_context`, `harness_namespace`)."""
    cfg = configuration or {}
    kind = str(cfg.get("harness_target", "local"))
    namespace = str(cfg.get("harness_namespace", "llm"))
    if kind == "local":
        from harness.targets.local import LocalTarget

        return LocalTarget.from_stack(str(cfg.get("harness_stack", "default")), namespace)
    if kind in ("kube", "kubernetes"):
        from harness.targets.kubernetes import KubernetesTarget

        return KubernetesTarget.from_config(namespace, cfg.get("harness_kubeconfig"), cfg.get("harness_kube_context"))
    raise TargetError(f"configuration harness_target: unknown target {kind!r} (use local or kube)")
