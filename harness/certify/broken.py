"""Apply a requirement's broken mesh configuration to a running target, and
put the original back afterwards (whatever happens), so one stack can be
broken and restored per requirement."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from harness.certify.requirement import Requirement
from harness.targets.base import Target
from harness.targets.objects import writable_copy

__all__ = ["broken_mesh"]


@contextlib.contextmanager
def broken_mesh(target: Target, requirement: Requirement) -> Iterator[dict[str, Any]]:
    """Rewrite the requirement's Istio object as its `broken` says (when it
    names one), restore it afterwards; yields the fault parameters the broken
    run must use: run the requirement with `context_for(..., fault=...)`."""
    spec = requirement.broken
    if spec.rewrite is None or spec.kind is None or spec.name is None:
        yield dict(spec.fault)
        return
    original = target.get_istio(spec.kind, spec.name)
    broken = spec.apply(writable_copy(original, keep_version=True))
    target.replace_istio(spec.kind, spec.name, broken)
    try:
        yield dict(spec.fault)
    finally:
        target.replace_istio(spec.kind, spec.name, writable_copy(original, keep_version=False))
