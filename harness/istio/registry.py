"""What routes may name, as far as the caller knows: the Services of a local
topology or of Kubernetes manifests, and the pods behind them. A plain
directory of Istio files knows none (only its own ServiceEntries)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.istio.hosts import DEFAULT_NAMESPACE, qualify

__all__ = ["ServiceRegistry"]


@dataclass(frozen=True)
class ServiceRegistry:
    # qualified host (`llm-chat.llm.svc.cluster.local`) -> the Service's pod selector
    services: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # label sets of every pod that may run; None when the caller does not know the workloads
    workloads: Sequence[Mapping[str, str]] | None = None
    # the namespace of objects that name none
    namespace: str = DEFAULT_NAMESPACE
    # where the Services were declared, for messages ("the topology", "these manifests")
    origin: str = "the known Services"

    @classmethod
    def of(cls, services: Mapping[tuple[str, str], Mapping[str, str]],
           workloads: Sequence[Mapping[str, str]] | None = None,
           namespace: str = DEFAULT_NAMESPACE, origin: str = "the known Services") -> ServiceRegistry:
        """From `(namespace, name) -> selector` pairs."""
        return cls({qualify(name, ns): dict(sel) for (ns, name), sel in services.items()}, workloads, namespace,
                   origin)

    @property
    def knows_services(self) -> bool:
        return bool(self.services)
