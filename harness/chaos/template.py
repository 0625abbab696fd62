"""The one shape of every chaos action: check the guards, journal the fault
with its undo *before* acting, act, confirm the fault really took effect.
The undo side lives in `rollback.py`.

An action builds a `FaultPlan` (what it will do, how to undo it, how to see
it in effect) and hands it to `apply_fault`; nothing else in an action
touches the journal."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.chaos.errors import ChaosActionFailed
from harness.chaos.journal import Entry, Journal, default_journal_path
from harness.chaos.timeouts import ChaosTimeouts
from harness.targets.base import Target, TargetError
from harness.targets.factory import get_target, target_spec

__all__ = ["ActionContext", "FaultPlan", "apply_fault", "wait_confirmed"]

log = logging.getLogger("harness.chaos")
Configuration = dict[str, Any] | None


@dataclass(frozen=True)
class ActionContext:
    """What every action works with, read once from the configuration."""

    target: Target
    journal: Journal
    configuration: dict[str, Any]
    timeouts: ChaosTimeouts
    dry_run: bool
    max_blast_percent: float

    @classmethod
    def from_configuration(cls, configuration: Configuration) -> ActionContext:
        cfg = dict(configuration or {})
        try:
            timeouts = ChaosTimeouts.from_configuration(cfg)
            max_blast = float(cfg.get("harness_max_blast_percent", 50))
            target = get_target(cfg)
        except (TargetError, ValueError) as exc:
            raise ChaosActionFailed(str(exc)) from None
        dry = cfg.get("harness_dry_run", os.environ.get("HARNESS_CHAOS_DRY_RUN", ""))
        return cls(target=target, journal=Journal(default_journal_path(cfg)), configuration=cfg,
                   timeouts=timeouts, dry_run=str(dry).lower() in ("1", "true", "yes"),
                   max_blast_percent=max_blast)


@dataclass
class FaultPlan:
    """One fault, fully decided before anything is touched."""

    action: str
    params: dict[str, Any]  # what the journal says was done, and where
    undo_op: str  # a key of rollback.UNDO_OPS
    undo_args: dict[str, Any]
    inject: Callable[[], dict[str, Any] | None]  # acts; may return undo args learned while acting
    confirm: Callable[[], str | None]  # None once the fault shows, else what does not
    result: dict[str, Any]  # what the action returns on success
    would: dict[str, Any] = field(default_factory=dict)  # what a dry run reports
    confirm_timeout_s: float | None = None  # default: the configuration's confirm_s


def apply_fault(ctx: ActionContext, plan: FaultPlan) -> dict[str, Any]:
    """Journal, act, confirm. Whatever happens after the journal line is
    written, the entry stays pending until a rollback undoes it: a failed or
    half-done injection is rolled back like a confirmed one."""
    entry = Entry(action=plan.action, target=target_spec(ctx.configuration), params=plan.params,
                  undo={"op": plan.undo_op, "args": plan.undo_args})
    if ctx.dry_run:
        entry.state = "dry_run"
        ctx.journal.record(entry)
        log.warning("dry run: would %s with %s", plan.action, plan.params)
        return {"dry_run": True, **plan.would}
    ctx.journal.record(entry)
    entry.started_at = time.time()
    try:
        learned = plan.inject()
    except Exception as exc:
        ctx.journal.mark(entry, "failed", f"injection failed: {exc}")
        if isinstance(exc, (TargetError, ChaosActionFailed)):
            raise ChaosActionFailed(f"{plan.action}: {exc}") from None
        raise
    if learned:
        entry.undo = {"op": plan.undo_op, "args": {**plan.undo_args, **learned}}
    ctx.journal.mark(entry, "injected")
    wait_confirmed(ctx, entry, plan.confirm, plan.confirm_timeout_s or ctx.timeouts.confirm_s)
    return {**plan.result, "journal_id": entry.id, "started_at": entry.started_at,
            "confirmed_at": entry.confirmed_at}


def wait_confirmed(ctx: ActionContext, entry: Entry, check: Callable[[], str | None], timeout_s: float) -> None:
    """Poll `check` until it confirms or `timeout_s` runs out; an unconfirmed
    fault fails the activity (and stays journaled, so the rollback still
    undoes whatever part of it happened)."""
    deadline = time.monotonic() + timeout_s
    reason: str | None = "not checked"
    while True:
        try:
            reason = check()
        except TargetError as exc:
            reason = str(exc)
        if reason is None:
            entry.confirmed_at = time.time()
            ctx.journal.mark(entry, "confirmed")
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(ctx.timeouts.poll_s)
    ctx.journal.mark(entry, "failed", f"fault not confirmed: {reason}")
    raise ChaosActionFailed(f"{entry.action}: the fault did not take effect within {timeout_s:g}s: {reason} "
                            "(configuration harness_confirm_timeout_s sets the limit)")
