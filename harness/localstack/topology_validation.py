"""`harness validate` for local-stack topology files (kind: LocalTopology); it
lives beside the topology model and registers with `harness.validation`."""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.diagnostics import ConfigError, Diagnostic
from harness.localstack.topology import load_topology
from harness.validation import Checked, register


def _is_topology(path: Path) -> bool:
    try:
        doc = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("kind") == "LocalTopology"


def validate_topologies(files: list[Path]) -> Checked:
    topologies = [path for path in files if _is_topology(path)]
    out: list[Diagnostic] = []
    for path in topologies:
        try:
            load_topology(path)
        except ConfigError as exc:
            out.extend(exc.diagnostics)
    return Checked.of(topologies, out)


register("topology", validate_topologies)
