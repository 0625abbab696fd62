"""`harness validate` for Chaos Toolkit experiments: chaoslib's own checks
(structure, tolerances, python providers importable with matching
arguments), reported as one line naming the file and the activity."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import yaml

from harness.diagnostics import Diagnostic
from harness.validation import register


def _is_experiment(path: Path) -> dict[str, Any] | None:
    if path.suffix not in (".yaml", ".yml", ".json"):
        return None
    try:
        doc = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return None
    return doc if isinstance(doc, dict) and "method" in doc and "title" in doc else None


def _activities(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for i, a in enumerate((doc.get("steady-state-hypothesis") or {}).get("probes") or []):
        out.append((f"steady-state-hypothesis.probes[{i}]", a))
    for section in ("method", "rollbacks"):
        for i, a in enumerate(doc.get(section) or []):
            out.append((f"{section}[{i}]", a))
    return out


def _check_python_activity(file: str, where: str, activity: dict[str, Any]) -> Diagnostic | None:
    """Unknown module, function or argument, said with the activity's name."""
    import importlib

    provider = activity.get("provider") or {}
    if provider.get("type") != "python":
        return None
    name = activity.get("name", "?")
    module, func = provider.get("module"), provider.get("func")
    try:
        fn = getattr(importlib.import_module(str(module)), str(func))
    except (ImportError, AttributeError):
        return Diagnostic("error", file, f"activity '{name}': no function {func!r} in module {module!r}",
                          field=f"{where}.provider", fix="check module and func (harness.chaos.actions / probes)")
    params = inspect.signature(fn).parameters
    for arg in (provider.get("arguments") or {}):
        if arg not in params:
            allowed = [p for p in params if p not in ("configuration", "secrets")]
            return Diagnostic("error", file, f"activity '{name}': {func}() has no argument {arg!r}",
                              field=f"{where}.provider.arguments.{arg}", fix=f"use one of {allowed}")
    missing = [p for p, v in params.items() if v.default is inspect.Parameter.empty
               and p not in (provider.get("arguments") or {}) and p not in ("configuration", "secrets")]
    if missing:
        return Diagnostic("error", file, f"activity '{name}': {func}() needs argument(s) {missing}",
                          field=f"{where}.provider.arguments", fix=f"add {', '.join(missing)}")
    return None


def validate_experiments(files: list[Path]) -> list[Diagnostic]:
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    out: list[Diagnostic] = []
    for path in files:
        doc = _is_experiment(path)
        if doc is None:
            continue
        file = str(path)
        mine = [d for where, a in _activities(doc) if (d := _check_python_activity(file, where, a))]
        if mine:
            out.extend(mine)
            continue
        try:
            ensure_experiment_is_valid(doc)
        except ChaosException as exc:
            out.append(Diagnostic("error", file, str(exc).strip().splitlines()[0],
                                  fix="see the Chaos Toolkit experiment format"))
    return out


register("experiments", validate_experiments)
