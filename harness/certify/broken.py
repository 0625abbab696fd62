"""Apply a requirement's broken mesh configuration to a running target, and
put the original back afterwards (whatever happens), so one stack can be
broken and restored per requirement."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from harness.certify.requirement import BrokenKind, Requirement
from harness.targets.base import Target
from harness.targets.objects import writable_copy

__all__ = ["broken_mesh"]


def _get(target: Target, kind: BrokenKind, name: str) -> dict[str, Any]:
    if kind == "HorizontalPodAutoscaler":
        return target.get_hpa(name)
    return target.get_istio(kind, name)


def _replace(target: Target, kind: BrokenKind, name: str, obj: dict[str, Any]) -> None:
    if kind == "HorizontalPodAutoscaler":
        target.replace_hpa(name, obj)
    else:
        target.replace_istio(kind, name, obj)


@contextlib.contextmanager
def broken_mesh(target: Target, requirement: Requirement) -> Iterator[dict[str, Any]]:
    """Rewrite the requirement's object (an Istio object or an HPA) as its
    `broken` says (when it names one), restore it afterwards; yields the fault
    parameters the broken run must use: run the requirement with
    `context_for(..., fault=...)`."""
    spec = requirement.broken
    if spec.rewrite is None or spec.kind is None or spec.name is None:
        yield dict(spec.fault)
        return
    kind, name = spec.kind, spec.name
    original = _get(target, kind, name)
    _replace(target, kind, name, spec.apply(writable_copy(original, keep_version=True)))
    try:
        yield dict(spec.fault)
    finally:
        # the original spec under the object's current version: an API server
        # refuses a custom object's update without one
        restored = writable_copy(original, keep_version=False)
        version = _get(target, kind, name).get("metadata", {}).get("resourceVersion")
        if version is not None:
            restored["metadata"]["resourceVersion"] = version
        _replace(target, kind, name, restored)
