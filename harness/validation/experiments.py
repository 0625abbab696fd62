"""`harness validate` for Chaos Toolkit experiments: chaoslib's own checks
(structure, tolerances, python providers importable with matching
arguments), reported as one line naming the file and the activity."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import yaml

from harness.diagnostics import Diagnostic, field_path
from harness.validation import Checked, register
from harness.yamlsource import SourceDocument, load_documents

_SECTIONS = ("method", "steady-state-hypothesis", "rollbacks")


def _is_experiment(path: Path) -> SourceDocument | None:
    """The experiment document of a file: a mapping with a title and a method (or
    another experiment section), so a half-written experiment is still judged."""
    if path.suffix not in (".yaml", ".yml", ".json"):
        return None
    try:
        docs = list(load_documents(path.read_text()))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return None
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        return None
    data = docs[0].data
    return docs[0] if "method" in data or ("title" in data and any(k in data for k in _SECTIONS)) else None


def _shape(file: str, doc: SourceDocument) -> list[Diagnostic]:
    """Sections and activities of the wrong type, which chaoslib would crash on."""
    data = doc.data
    wrong: list[tuple[tuple[object, ...], str]] = []
    hypothesis = data.get("steady-state-hypothesis")
    if hypothesis is not None and not isinstance(hypothesis, dict):
        wrong.append((("steady-state-hypothesis",), "a mapping with title and probes"))
    sections: list[tuple[tuple[object, ...], Any]] = [((k,), data.get(k)) for k in ("method", "rollbacks")]
    if isinstance(hypothesis, dict):
        sections.append((("steady-state-hypothesis", "probes"), hypothesis.get("probes")))
    for loc, items in sections:
        if items is None:
            continue
        if not isinstance(items, list):
            wrong.append((loc, "a list of activities"))
            continue
        wrong += [((*loc, i), "an activity: a mapping with type, name and provider")
                  for i, a in enumerate(items) if not isinstance(a, dict)]
    return [Diagnostic("error", file, f"'{field_path(loc)}' must be {what}", field=field_path(loc),
                       line=doc.line(loc), fix="see the Chaos Toolkit experiment format") for loc, what in wrong]


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
    if not isinstance(provider, dict) or provider.get("type") != "python":
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
        source = _is_experiment(path)
        if source is None:
            continue
        file, doc = str(path), source.data
        mine = _shape(file, source) or \
            [d for where, a in _activities(doc) if (d := _check_python_activity(file, where, a))]
        if mine:
            out.extend(mine)
            continue
        try:
            ensure_experiment_is_valid(doc)
        except ChaosException as exc:
            out.append(Diagnostic("error", file, str(exc).strip().splitlines()[0], line=source.line(()),
                                  fix="see the Chaos Toolkit experiment format"))
    return out


def _check_experiments(files: list[Path]) -> Checked:
    return Checked.of([f for f in files if _is_experiment(f) is not None], validate_experiments(files))


register("experiments", _check_experiments)
