"""Named, configurable time limits of the chaos actions and their rollbacks.

Each limit is read from the experiment's configuration (or the plain-function
API's `configuration` dict) under its key; a test or a slow cluster sets the
key instead of patching code."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["ChaosTimeouts", "TIMEOUT_KEYS"]

TIMEOUT_KEYS = {
    "confirm_s": "harness_confirm_timeout_s",
    "ready_s": "harness_ready_timeout_s",
    "region_ready_s": "harness_region_ready_timeout_s",
    "poll_s": "harness_poll_interval_s",
}


@dataclass(frozen=True)
class ChaosTimeouts:
    confirm_s: float = 15.0
    """How long an action waits for its fault to show before it fails the activity."""
    ready_s: float = 60.0
    """How long a pod-kill rollback waits until as many pods are ready as before."""
    region_ready_s: float = 90.0
    """How long a region-outage rollback waits until the region's pods are ready again."""
    poll_s: float = 0.2
    """How often confirmations and readiness waits look again."""

    @classmethod
    def from_configuration(cls, configuration: dict[str, Any] | None) -> ChaosTimeouts:
        """The defaults, overridden by the configuration keys in TIMEOUT_KEYS.
        A value that is not a positive number is a ValueError naming the key."""
        cfg = configuration or {}
        values: dict[str, float] = {}
        for f in fields(cls):
            key = TIMEOUT_KEYS[f.name]
            if key not in cfg:
                continue
            try:
                value = float(cfg[key])
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"configuration {key}: {cfg[key]!r} is not a positive number of seconds")
            values[f.name] = value
        return cls(**values)
