"""Find every requirement: each module of `harness.certify.requirements`
that defines `REQUIREMENT`. Adding a requirement is adding a module."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from harness.certify import requirements as _package
from harness.certify.requirement import Profile, Requirement
from harness.diagnostics import ConfigError, Diagnostic

__all__ = ["discover", "select"]


def discover() -> list[Requirement]:
    """Every requirement, sorted by id; duplicate ids are a programming error."""
    found: dict[str, Requirement] = {}
    for info in pkgutil.iter_modules(_package.__path__):
        module = importlib.import_module(f"{_package.__name__}.{info.name}")
        requirement = getattr(module, "REQUIREMENT", None)
        if requirement is None:
            continue
        if not isinstance(requirement, Requirement):
            raise TypeError(f"{module.__name__}.REQUIREMENT is not a Requirement")
        if requirement.id in found:
            raise ValueError(f"requirement id {requirement.id!r} is defined twice ({module.__name__})")
        found[requirement.id] = requirement
    return [found[k] for k in sorted(found)]


def select(catalogue: list[Requirement], profile: Profile, ids: Iterable[str] = ()) -> list[Requirement]:
    """The requirements of `profile`, or exactly `ids` when given (any profile);
    an unknown id is bad input."""
    wanted = list(ids)
    if not wanted:
        return [r for r in catalogue if profile in r.profiles]
    by_id = {r.id: r for r in catalogue}
    unknown = [i for i in wanted if i not in by_id]
    if unknown:
        raise ConfigError(Diagnostic("error", "--requirement", f"unknown requirement id {unknown[0]!r}",
                                     fix="run 'harness certify --list' for the ids"))
    return [by_id[i] for i in dict.fromkeys(wanted)]
