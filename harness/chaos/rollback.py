"""The undo side of the action template: one undo operation per kind of
fault, replayed from the journal, newest first, each tried even when an
earlier one failed. An undo is done when the target is back (pods ready
again), not when the request to restore it was accepted."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any, TypedDict

from harness.chaos.journal import Entry, Journal
from harness.chaos.timeouts import ChaosTimeouts
from harness.targets.base import NothingMatched, Target, TargetError
from harness.targets.factory import get_target

__all__ = ["UNDO_OPS", "RollbackResult", "rollback_journal", "rollback_entries", "wait_ready", "wait_restarted"]

log = logging.getLogger("harness.chaos")
UndoOp = Callable[[Target, dict[str, Any], ChaosTimeouts], None]


class RollbackResult(TypedDict, total=False):
    id: str
    action: str
    rolled_back: bool
    error: str


def wait_ready(target: Target, selector: str, ready: int, namespace: str | None, timeout_s: float,
               poll_s: float, limit_key: str) -> None:
    """Until at least `ready` pods matching the selector are ready, or TargetError
    naming the configuration key (`limit_key`) that sets the limit."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            seen = sum(p.ready for p in target.list_pods(selector, namespace))
        except NothingMatched:
            seen = 0
        if seen >= ready:
            return
        if time.monotonic() >= deadline:
            raise TargetError(f"only {seen} of {ready} pods matching {selector!r} are ready after {timeout_s:g}s "
                              f"(configuration {limit_key} sets the limit)")
        time.sleep(poll_s)


def wait_restarted(target: Target, selector: str, restarts: dict[str, int], namespace: str | None,
                   timeout_s: float, poll_s: float, limit_key: str) -> None:
    """Until every pod named in `restarts` (name -> restart count before the
    fault) has restarted and is ready again, or is gone (replaced); else
    TargetError naming `limit_key`. A dead engine's pod can still read ready
    (its readiness probe has not failed often enough yet): a ready count alone
    would call it back before it even went down."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            now = {p.name: p for p in target.list_pods(selector, namespace)}
        except NothingMatched:
            now = {}
        waiting = [name for name, before in restarts.items()
                   if name in now and not (now[name].restarts > before and now[name].ready)]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise TargetError(f"{', '.join(waiting)} did not restart and turn ready within {timeout_s:g}s "
                              f"(configuration {limit_key} sets the limit)")
        time.sleep(poll_s)


def _undo_wait_ready(target: Target, args: dict[str, Any], timeouts: ChaosTimeouts) -> None:
    wait_ready(target, args["selector"], int(args["ready"]), args.get("namespace"), timeouts.ready_s,
               timeouts.poll_s, "harness_ready_timeout_s")


def _undo_clear_engine_fault(target: Target, args: dict[str, Any], timeouts: ChaosTimeouts) -> None:
    _clear_engine_faults(target, args)
    if "restarts" in args:  # an engine the fault killed (gpu_oom) restarts; wait for that, not a ready count
        wait_restarted(target, args["selector"], {str(k): int(v) for k, v in args["restarts"].items()},
                       args.get("namespace"), timeouts.ready_s, timeouts.poll_s, "harness_ready_timeout_s")
    if "ready" in args:  # an engine the fault killed (gpu_oom) is back only once it is ready again
        wait_ready(target, args["selector"], int(args["ready"]), args.get("namespace"), timeouts.ready_s,
                   timeouts.poll_s, "harness_ready_timeout_s")


def _clear_engine_faults(target: Target, args: dict[str, Any]) -> None:
    kind = str(args["kind"])
    try:
        current = {p.name: p for p in target.list_pods(args["selector"], args.get("namespace"))}
    except NothingMatched:
        return
    for name in args["pods"]:
        pod = current.get(name)
        if pod is None:
            continue
        try:
            target.clear_engine_fault(pod, kind)
        except TargetError:
            if kind != "gpu_oom":  # a dead engine cannot answer; it restarts clean
                raise


def _undo_restore_istio(target: Target, args: dict[str, Any], timeouts: ChaosTimeouts) -> None:
    kind, name, namespace = args["kind"], args["name"], args.get("namespace")
    current = target.get_istio(kind, name, namespace)
    restored = copy.deepcopy(args["object"])
    version = current.get("metadata", {}).get("resourceVersion")
    if version:  # a replace must carry the object's current resourceVersion
        restored.setdefault("metadata", {})["resourceVersion"] = version
    target.replace_istio(kind, name, restored, namespace)


def _undo_region_up(target: Target, args: dict[str, Any], timeouts: ChaosTimeouts) -> None:
    region = str(args["region"])
    target.region_up(region, args.get("undo") or {})
    if "ready" in args:  # journals written before readiness was recorded only restart the region
        wait_ready(target, f"region={region}", int(args["ready"]), None, timeouts.region_ready_s,
                   timeouts.poll_s, "harness_region_ready_timeout_s")


UNDO_OPS: dict[str, UndoOp] = {
    "wait_ready": _undo_wait_ready,
    "clear_engine_fault": _undo_clear_engine_fault,
    "restore_istio": _undo_restore_istio,
    "region_up": _undo_region_up,
}


def _undo(entry: Entry, configuration: dict[str, Any]) -> None:
    op = UNDO_OPS.get(str(entry.undo.get("op", "")))
    if op is None:
        raise TargetError(f"unknown undo {entry.undo.get('op')!r}")
    settings = {**configuration, **entry.target}
    op(get_target(settings), dict(entry.undo.get("args") or {}), ChaosTimeouts.from_configuration(settings))


def rollback_entries(journal: Journal, entries: list[Entry],
                     configuration: dict[str, Any] | None = None) -> list[RollbackResult]:
    """Undo the given entries in order. Each undo is tried even if an earlier
    one failed; a failure stays in the journal for a later replay."""
    results: list[RollbackResult] = []
    for entry in entries:
        entry.undo_started_at = time.time()
        try:
            _undo(entry, configuration or {})
        except Exception as exc:  # keep going: every other fault must still be undone
            journal.mark(entry, "rollback_failed", str(exc))
            results.append({"id": entry.id, "action": entry.action, "rolled_back": False, "error": str(exc)})
            log.error("rollback of %s (%s) failed: %s", entry.action, entry.id, exc)
            continue
        entry.ended_at = time.time()
        journal.mark(entry, "rolled_back")
        results.append({"id": entry.id, "action": entry.action, "rolled_back": True})
    return results


def rollback_journal(journal: Journal, configuration: dict[str, Any] | None = None) -> list[RollbackResult]:
    """Undo every entry of the journal not yet undone, newest first."""
    return rollback_entries(journal, journal.pending(), configuration)
