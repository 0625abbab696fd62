"""Kubernetes-shaped objects as a target hands them out, made fit to write back."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["writable_copy"]

_USER_METADATA = ("name", "namespace", "labels", "annotations")


def writable_copy(obj: dict[str, Any], keep_version: bool = False) -> dict[str, Any]:
    """A deep copy fit to PUT back: no `status`, only the metadata a user sets,
    plus the `resourceVersion` when the write must carry it (an update that
    fails on a concurrent change instead of overwriting it)."""
    clean = copy.deepcopy(obj)
    clean.pop("status", None)
    keys = _USER_METADATA + (("resourceVersion",) if keep_version else ())
    clean["metadata"] = {k: v for k, v in obj.get("metadata", {}).items() if k in keys}
    return clean
