"""Offline validation of everything a user hands the harness.

`validate_path` walks a file or directory, reports every file that does not
parse, and asks each registered validator about the files it recognises.
Validators live beside the code that consumes the files they check and
register here, so `harness validate DIR` covers the topology, Istio policy,
Kubernetes manifests and Chaos Toolkit experiments with one command.

Exit codes (`Validation.exit_code`): 0 nothing wrong; 1 an error in a file
(or, with strict, a warning); 2 nothing to validate (no such path, or no file
any validator recognises), as for any other invalid input.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.diagnostics import ConfigError, Diagnostic, errors_only
from harness.yamlsource import load_documents, yaml_error

__all__ = ["BUILTIN_VALIDATORS", "Checked", "Validation", "Validator", "collect_files", "register", "register_kind",
           "validate_path"]

EXIT_OK, EXIT_PROBLEMS, EXIT_NOTHING_TO_VALIDATE = 0, 1, 2


@dataclass(frozen=True)
class Checked:
    """What one validator made of the files: those it recognised, and its findings."""

    files: frozenset[Path] = frozenset()
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @classmethod
    def of(cls, files: Iterable[Path], diagnostics: list[Diagnostic]) -> Checked:
        return cls(frozenset(files), diagnostics)


# A validator takes every parseable YAML/JSON file found under the path and
# reports on the ones it understands (it ignores the others).
Validator = Callable[[list[Path]], Checked]

_VALIDATORS: dict[str, Validator] = {}


def register(name: str, validator: Validator) -> None:
    _VALIDATORS[name] = validator


def _kind_of(path: Path) -> str | None:
    try:
        doc = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return None  # unreadable files are reported once, by validate_path
    return str(doc.get("kind")) if isinstance(doc, dict) else None


def register_kind(name: str, kind: str, load: Callable[[Path], object]) -> None:
    """Register the validator of a file holding one object of the harness's own
    `kind` (a topology, an SLO spec): loading it is the check, and the
    ConfigError it raises lists the findings."""
    def validate(files: list[Path]) -> Checked:
        found = [f for f in files if _kind_of(f) == kind]
        out: list[Diagnostic] = []
        for path in found:
            try:
                load(path)
            except ConfigError as exc:
                out.extend(exc.diagnostics)
        return Checked.of(found, out)

    register(name, validate)


@dataclass(frozen=True)
class Validation:
    """The outcome of `harness validate PATH`."""

    path: Path
    diagnostics: list[Diagnostic]
    recognised: int  # files some validator understood, or that do not parse

    @property
    def errors(self) -> list[Diagnostic]:
        return errors_only(self.diagnostics)

    @property
    def nothing_to_validate(self) -> bool:
        return self.recognised == 0

    def exit_code(self, strict: bool = False) -> int:
        if self.nothing_to_validate:
            return EXIT_NOTHING_TO_VALIDATE
        if self.errors or (strict and self.diagnostics):
            return EXIT_PROBLEMS
        return EXIT_OK

    def summary(self, strict: bool = False) -> str:
        errors, warnings = len(self.errors), len(self.diagnostics) - len(self.errors)
        if self.exit_code(strict) == EXIT_OK:
            return f"ok: {self.path} ({warnings} warning(s))"
        fatal = " (--strict: warnings fail)" if strict and not errors else ""
        return f"{errors} error(s), {warnings} warning(s) in {self.path}{fatal}"


def collect_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml", ".json"} and p.is_file())


# Modules that register a validator when imported. Each lives beside the code
# that reads the files it checks; named here, not imported, so this package
# depends on none of them (nor pays for chaoslib before `harness validate` runs).
BUILTIN_VALIDATORS = (
    "harness.localstack.topology_validation",
    "harness.validation.istio",
    "harness.validation.kubernetes",
    "harness.validation.experiments",
    "harness.validation.slo",
)


def _load_builtin_validators() -> None:
    for module in BUILTIN_VALIDATORS:
        importlib.import_module(module)


def _unparseable(path: Path) -> Diagnostic | None:
    try:
        for _ in load_documents(path.read_text()):
            pass
    except yaml.YAMLError as exc:
        return yaml_error(str(path), exc)
    except (OSError, UnicodeDecodeError) as exc:
        return Diagnostic("error", str(path), f"cannot read the file: {exc}", fix="check the file's permissions "
                          "and that it is UTF-8 text")
    return None


def validate_path(path: Path) -> Validation:
    if not path.exists():
        return Validation(path, [Diagnostic("error", str(path), "no such file or directory",
                                            fix="pass an existing file or directory")], 0)
    _load_builtin_validators()
    diagnostics: list[Diagnostic] = []
    parseable: list[Path] = []
    found: set[Path] = set()
    for f in collect_files(path):
        problem = _unparseable(f)
        if problem is None:
            parseable.append(f)
        else:
            diagnostics.append(problem)
            found.add(f)
    for validator in _VALIDATORS.values():
        checked = validator(parseable)
        found |= checked.files
        diagnostics.extend(checked.diagnostics)
    if not found:
        diagnostics.append(Diagnostic(
            "error", str(path), "nothing to validate: no topology, Istio, Kubernetes manifest or Chaos Toolkit "
            "experiment file found", fix="pass the file or directory holding them (YAML, or JSON experiments)"))
    return Validation(path, diagnostics, len(found))
