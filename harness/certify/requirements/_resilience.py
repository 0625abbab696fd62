"""Running a fault under background load: Locust (the project's load
runner) drives a load profile while a journaled chaos action is injected;
whatever happens, every fault of the requirement's journal is rolled back.
The records are judged, not a handful of probe requests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.frames import timed
from harness.certify.context import RunContext
from harness.chaos import rollback
from harness.chaos.actions import rollback_all
from harness.chaos.journal import Journal, default_journal_path
from harness.load.runner import LoadRun
from harness.targets.base import TargetError

__all__ = ["FaultRun", "fault_under_load", "wait_ready", "wait_restarted"]


@dataclass
class FaultRun:
    records: pd.DataFrame = field(default_factory=pd.DataFrame)  # timed (column t, epoch seconds)
    fault_start: float = 0.0  # epoch seconds, from the journal: the entry written just before the fault
    fault_end: float | None = None  # when its rollback began (None: not rolled back during the load)
    evidence: tuple[str, ...] = ()
    load_exit_code: int = 0


@contextmanager
def fault_under_load(ctx: RunContext, profile: str, users: int, duration_s: float, warmup_s: float,
                     ) -> Iterator[tuple[FaultRun, Callable[[], None]]]:
    """Start the load, wait `warmup_s`, yield (run, rollback) for the caller to
    inject its fault (a `harness.chaos.actions` call with ctx.chaos_configuration)
    and call rollback() when the fault should end; then wait for the load to
    finish and fill `run`. Faults are rolled back on every exit path."""
    journal = Journal(default_journal_path(ctx.chaos_configuration))
    run = FaultRun()
    load = LoadRun(profile, ctx.gateway, duration_s=duration_s, users=users, spawn_rate=users)

    def rollback() -> None:
        if run.fault_end is None:
            started = time.time()  # recovery is timed from the undo, pod restarts included
            rollback_all(ctx.chaos_configuration)
            run.fault_end = started

    with load:
        try:
            time.sleep(warmup_s)
            run.fault_start = time.time()
            yield run, rollback
        finally:
            try:
                rollback_all(ctx.chaos_configuration)
            finally:
                result = load.wait()
    entries = journal.entries()
    if entries:
        run.fault_start = min(e.created for e in entries)
    ctx.timeline.update({"fault_start": run.fault_start, "fault_end": run.fault_end})
    run.records = timed(result.records)
    run.load_exit_code = result.exit_code
    run.evidence = (ctx.evidence.records("records", result.records),) + (
        (ctx.evidence.attach(Path(journal.path)),) if journal.path.exists() else ())


def wait_ready(ctx: RunContext, selector: str, ready: int, since: float, timeout_s: float) -> float | None:
    """Seconds from `since` until `ready` pods matching `selector` are ready again; None on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if sum(p.ready for p in ctx.target.list_pods(selector)) >= ready:
                return time.time() - since
        except Exception:  # a selector matching nothing while every pod is down
            pass
        time.sleep(0.2)
    return None


def wait_restarted(ctx: RunContext, selector: str, restarts: dict[str, int], since: float,
                   timeout_s: float) -> float | None:
    """Seconds from `since` until every pod named in `restarts` (name ->
    restart count before the fault) has restarted and is ready; None on timeout."""
    try:
        rollback.wait_restarted(ctx.target, selector, restarts, None, timeout_s, 0.2, "the requirement's recover timeout")
    except TargetError:
        return None
    return time.time() - since


def load_summary(run: FaultRun) -> dict[str, Any]:
    r = run.records
    return {"requests": len(r), "ok": int(r["ok"].sum()) if len(r) else 0, "fault_start": run.fault_start,
            "fault_end": run.fault_end, "load_exit_code": run.load_exit_code}
