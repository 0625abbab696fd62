"""Chaos Toolkit control (module `harness.chaos.control`) that makes stock
`chaos run` fail an experiment whose fault was not injected.

Chaos Toolkit records a method action that raised (refused by the blast
radius, no target, fault never confirmed) as a failed activity but still ends
the run "completed" with exit 0. Experiments reference this control:

    controls:
      - name: no-false-pass
        provider: {type: python, module: harness.chaos.control}

At the end of the experiment (after the rollbacks were played, which Chaos
Toolkit skips for a run it already considers failed or interrupted) the
journal's status becomes "failed" when any method action failed, so `chaos
run` exits 1. Raising `InterruptExecution` instead would stop the method
sooner but also skip the rollbacks of whatever part of the fault happened.
"""

from __future__ import annotations

import logging
from typing import Any

from harness.chaos.runner import failed_actions

__all__ = ["after_experiment_control"]


def after_experiment_control(context: dict[str, Any], state: dict[str, Any] | None = None,
                             configuration: Any = None, secrets: Any = None, **kwargs: Any) -> None:
    """Mark the run failed when a method action failed (Chaos Toolkit's
    `after_experiment_control` hook; `state` is the run's journal)."""
    if not state or state.get("status") != "completed":
        return
    failed = failed_actions(state)
    if failed:
        state["status"] = "failed"
        # Chaos Toolkit's own logger: the line lands in chaostoolkit.log beside the activity's error
        logging.getLogger("chaostoolkit").error("fault not injected, the run fails: %s",
                                                "; ".join(failed))
