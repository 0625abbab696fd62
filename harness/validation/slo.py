"""`harness validate` for SLO specs (kind: ServiceLevelObjectives)."""

from __future__ import annotations

from pathlib import Path

from harness.certify.slo import SLO_KIND, load_slo
from harness.diagnostics import ConfigError, Diagnostic
from harness.validation import Checked, register


def _is_slo(path: Path) -> bool:
    try:
        return path.suffix in (".yaml", ".yml") and f"kind: {SLO_KIND}" in path.read_text(errors="replace")
    except OSError:
        return False


def validate_slos(files: list[Path]) -> Checked:
    slos = [path for path in files if _is_slo(path)]
    out: list[Diagnostic] = []
    for path in slos:
        try:
            load_slo(path)
        except ConfigError as exc:
            out.extend(exc.diagnostics)
    return Checked.of(slos, out)


register("slo", validate_slos)
