"""What chaos actions need from a platform (the `Target` protocol) and the
records it answers with. The drivers are `local.py` and `kubernetes.py`;
`factory.py` picks one from a configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["PodInfo", "Target", "TargetError", "NothingMatched", "TargetUnsupported", "IstioKind", "PLURALS"]

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
    def get_hpa(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The autoscaling/v2 HorizontalPodAutoscaler `name`, status included."""
    def replace_hpa(self, name: str, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """PUT an autoscaling/v2 HorizontalPodAutoscaler in place of `name`."""
    def engine_fault(self, pod: PodInfo, fault: dict[str, Any]) -> None: ...
    def clear_engine_fault(self, pod: PodInfo, kind: str | None = None) -> None: ...
    def engine_faults(self, pod: PodInfo) -> dict[str, Any]: ...
    def region_down(self, region: str, mode: str) -> dict[str, Any]:
        """Take the region down (`kill` or `blackhole`); returns what `region_up` needs."""
    def region_up(self, region: str, undo: dict[str, Any]) -> None:
        """Undo `region_down` (readiness is waited for by the caller)."""
    def region_outage_missing(self, region: str, mode: str, undo: dict[str, Any]) -> str | None:
        """None once the outage `region_down` started is in effect, else what still shows the region up."""
    def check_namespace_allowed(self, namespace: str) -> None: ...

