"""One vocabulary for user-facing configuration problems.

Every validator (topology, Istio, Kubernetes manifests, experiments) reports
`Diagnostic`s; the CLI prints one line each and never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pydantic

Severity = Literal["error", "warning"]

__all__ = ["ConfigError", "Diagnostic", "Severity", "errors_only", "field_path", "from_validation_error"]


@dataclass(frozen=True)
class Diagnostic:
    """A problem in a user's file, precise enough to fix without reading code."""

    severity: Severity
    file: str
    message: str
    field: str | None = None  # dotted path, e.g. "spec.http[0].route[1].match"
    object: str | None = None  # "Kind/name", e.g. "VirtualService/llm-chat"
    fix: str | None = None
    line: int | None = None  # 1-based line in `file`, when known
    rule: str | None = None  # id of the rule that found it (docs/istio-rules.md), when one did

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.object:
            where += f": {self.object}"
        if self.field:
            where += f": {self.field}"
        line = f"{self.severity}: {where}: {self.message}"
        if self.fix:
            line += f" (fix: {self.fix})"
        if self.rule:
            line += f" (rule: {self.rule})"
        return line


def errors_only(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


class ConfigError(Exception):
    """Raised when user input is invalid; carries the diagnostics to print."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic) -> None:
        self.diagnostics = [diagnostics] if isinstance(diagnostics, Diagnostic) else list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def field_path(loc: tuple[object, ...]) -> str:
    """Render a pydantic error location as `spec.http[0].route[1].match`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def from_validation_error(
    exc: pydantic.ValidationError,
    file: str,
    *,
    object: str | None = None,
    prefix: str = "",
    locate: Callable[[tuple[object, ...]], int | None] | None = None,
) -> list[Diagnostic]:
    """One Diagnostic per pydantic error, with a fix a user can act on."""
    diagnostics = []
    for e in exc.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = field_path(loc)
        if prefix:
            path = f"{prefix}.{path}" if path and not path.startswith("[") else f"{prefix}{path}"
        kind = e["type"]
        if kind == "extra_forbidden":
            message, fix = f"unknown field '{loc[-1]}'", "remove it or correct its spelling"
        elif kind == "missing":
            message, fix = "required field is missing", f"add '{loc[-1]}'"
        elif kind in ("literal_error", "enum"):
            message, fix = e["msg"], "use one of the allowed values"
        else:
            message, fix = e["msg"], None
        line = locate(loc) if locate else None
        diagnostics.append(Diagnostic("error", file, message, field=path or None, object=object, fix=fix, line=line))
    return diagnostics
