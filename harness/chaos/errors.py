"""The one failure type of chaos actions and probes.

It is Chaos Toolkit's `ActivityFailed` (so a `chaos run` journal reports the
activity as failed), and the same exception reaches plain Python callers."""

from __future__ import annotations

from chaoslib.exceptions import ActivityFailed

__all__ = ["ChaosActionFailed"]


class ChaosActionFailed(ActivityFailed):  # type: ignore[misc]  # chaoslib ships no type information
    """An action could not inject its fault, the fault did not take effect, a
    guard refused it, or a probe could not measure."""
