"""`harness validate` for Istio objects: every rule of `harness.istio`, with the
Services and pods of any Kubernetes manifests among the files as what routes
may name (none for a plain Istio directory)."""

from __future__ import annotations

from pathlib import Path

from harness.istio.kinds import GROUPS
from harness.istio.loading import mesh_diagnostics
from harness.validation import Checked, register
from harness.validation.kubernetes import service_registry


def _mentions_istio(path: Path) -> bool:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return path.suffix in (".yaml", ".yml") and any(f"{group}/" in text for group in GROUPS)


def validate_istio(files: list[Path]) -> Checked:
    istio_files = [f for f in files if _mentions_istio(f)]
    if not istio_files:
        return Checked()
    _, diagnostics = mesh_diagnostics(istio_files, service_registry(files))
    return Checked.of(istio_files, diagnostics)


register("istio", validate_istio)
