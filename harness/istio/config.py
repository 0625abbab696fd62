"""The Istio objects loaded from a set of files: what the local mesh proxy
runs and what the lint rules judge."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.diagnostics import Diagnostic
from harness.istio.destination_rule import DestinationRule
from harness.istio.hosts import short_host
from harness.istio.virtual_service import VirtualService
from harness.yamlsource import SourceDocument

__all__ = ["MeshConfig", "Source"]


@dataclass(frozen=True)
class Source:
    """Where an object was read: its file and YAML document (for line numbers)."""

    file: str
    doc: SourceDocument


@dataclass
class MeshConfig:
    virtual_services: list[VirtualService] = field(default_factory=list)
    destination_rules: list[DestinationRule] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> file

    def destination_rule(self, host: str) -> DestinationRule | None:
        for dr in self.destination_rules:
            if short_host(dr.spec.host) == short_host(host):
                return dr
        return None
