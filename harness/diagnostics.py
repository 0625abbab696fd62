"""One vocabulary for user-facing configuration problems.

Every validator (topology, Istio, Kubernetes manifests, experiments) reports
`Diagnostic`s; the CLI prints one line each and never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

Severity = Literal["error", "warning"]

__all__ = ["ConfigError", "Diagnostic", "Severity", "errors_only"]


@dataclass(frozen=True)
class Diagnostic:
    """A problem in a user's file, precise enough to fix without reading code."""

    severity: Severity
    file: str
    message: str
    field: str | None = None  # dotted path, e.g. "spec.http[0].route[1].match"
    object: str | None = None  # "Kind/name", e.g. "VirtualService/llm-chat"
    fix: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.object:
            where += f": {self.object}"
        if self.field:
            where += f": {self.field}"
        line = f"{self.severity}: {where}: {self.message}"
        if self.fix:
            line += f" (fix: {self.fix})"
        return line


def errors_only(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


class ConfigError(Exception):
    """Raised when user input is invalid; carries the diagnostics to print."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic) -> None:
        self.diagnostics = [diagnostics] if isinstance(diagnostics, Diagnostic) else list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))
