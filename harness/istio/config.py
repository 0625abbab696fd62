"""The Istio objects loaded from a set of files: what the local mesh proxy
runs and what the lint rules judge."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.diagnostics import Diagnostic
from harness.istio.destination_rule import DestinationRule
from harness.istio.hosts import short_host
from harness.istio.kinds import IstioObject
from harness.istio.service_entry import ServiceEntry
from harness.istio.virtual_service import VirtualService
from harness.yamlsource import SourceDocument

__all__ = ["MeshConfig", "Source", "object_ref"]


@dataclass(frozen=True)
class Source:
    """Where an object was read: its file and YAML document (for line numbers)."""

    file: str
    doc: SourceDocument

    def line(self, loc: tuple[object, ...]) -> int | None:
        return self.doc.line(loc)


def object_ref(obj: IstioObject) -> str:
    return f"{obj.kind}/{obj.metadata.name}"


def _key(obj: IstioObject) -> tuple[str, str, str]:
    return obj.kind, obj.metadata.namespace or "", obj.metadata.name


@dataclass
class MeshConfig:
    virtual_services: list[VirtualService] = field(default_factory=list)
    destination_rules: list[DestinationRule] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    service_entries: list[ServiceEntry] = field(default_factory=list)
    sources: dict[tuple[str, str, str], Source] = field(default_factory=dict)

    def add(self, obj: IstioObject, source: Source) -> None:
        self.sources[_key(obj)] = source
        if isinstance(obj, VirtualService):
            self.virtual_services.append(obj)
        elif isinstance(obj, DestinationRule):
            self.destination_rules.append(obj)
        elif isinstance(obj, ServiceEntry):
            self.service_entries.append(obj)
        else:  # a kind registered in `kinds` without its list here
            raise TypeError(f"MeshConfig keeps no {type(obj).__name__}")

    def source(self, obj: IstioObject) -> Source | None:
        return self.sources.get(_key(obj))

    def destination_rule(self, host: str) -> DestinationRule | None:
        """The local proxy's lookup: its topology is one namespace, so the first
        rule for the Service name applies."""
        for dr in self.destination_rules:
            if short_host(dr.spec.host) == short_host(host):
                return dr
        return None
