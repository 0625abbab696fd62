"""`harness validate` for Istio VirtualService / DestinationRule files."""

from __future__ import annotations

from pathlib import Path

from harness.diagnostics import Diagnostic
from harness.istio.kinds import API_GROUP
from harness.istio.loading import mesh_diagnostics
from harness.validation import register


def _mentions_istio(path: Path) -> bool:
    try:
        return path.suffix in (".yaml", ".yml") and API_GROUP in path.read_text(errors="replace")
    except OSError:
        return False


def validate_istio(files: list[Path]) -> list[Diagnostic]:
    istio_files = [f for f in files if _mentions_istio(f)]
    if not istio_files:
        return []
    _, diagnostics = mesh_diagnostics(istio_files)
    return diagnostics


register("istio", validate_istio)
