"""Offline validation of everything a user hands the harness.

`validate_path` walks a file or directory and asks each registered validator
about the files it recognises. Validators live beside the code that consumes
the files they check and register here, so `harness validate DIR` covers the
topology, Istio policy, Kubernetes manifests and Chaos Toolkit experiments with
one command.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.diagnostics import Diagnostic

# A validator takes every YAML/JSON file found under the path and returns
# diagnostics for the ones it understands (it ignores the others).
Validator = Callable[[list[Path]], list[Diagnostic]]

_VALIDATORS: dict[str, Validator] = {}

__all__ = ["Validator", "register", "validate_path", "collect_files"]


def register(name: str, validator: Validator) -> None:
    _VALIDATORS[name] = validator


def collect_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml", ".json"} and p.is_file())


def _load_builtin_validators() -> None:
    # Imported lazily so `harness validate` pays only for what it uses and a
    # validator module that is not written yet does not break the others.
    import importlib

    for module in (
        "harness.validation.topology",
        "harness.validation.istio",
        "harness.validation.kubernetes",
        "harness.validation.experiments",
        "harness.validation.slo",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def validate_path(path: Path) -> list[Diagnostic]:
    if not path.exists():
        return [Diagnostic("error", str(path), "no such file or directory", fix="pass an existing path")]
    _load_builtin_validators()
    files = collect_files(path)
    diagnostics: list[Diagnostic] = []
    for validator in _VALIDATORS.values():
        diagnostics.extend(validator(files))
    return diagnostics
