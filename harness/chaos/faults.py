"""Faults as context managers, for Python callers (resilience tests, the
certification runner) that do not go through Chaos Toolkit:

    from harness.chaos import actions
    from harness.chaos.faults import fault

    with fault(actions.kill_pods, selector="app=chat,region=us-east", count=1,
               configuration={"harness_stack": "default"}) as window:
        ...  # load runs while the fault is in place
    window.started, window.confirmed, window.rollback_started, window.ended  # UTC datetimes

Entering journals, injects and confirms the fault (an unconfirmed fault
raises `ChaosActionFailed`, after rolling back whatever part of it
happened); leaving always rolls it back (on success, exception or
KeyboardInterrupt) and waits until the target is back, then fills in the
window's end. A failed rollback raises `ChaosActionFailed` and stays in the
journal for `harness chaos rollback`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.chaos.errors import ChaosActionFailed
from harness.chaos.journal import Entry, Journal, default_journal_path
from harness.chaos.rollback import rollback_entries

__all__ = ["FaultWindow", "fault"]

Action = Callable[..., Any]


def _utc(stamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None


@dataclass
class FaultWindow:
    """When one fault was in place (wall clock, UTC), and what the action returned."""

    action: str
    result: dict[str, Any] = field(default_factory=dict)
    journal_ids: list[str] = field(default_factory=list)
    started: datetime | None = None  # the injection began
    confirmed: datetime | None = None  # the fault was seen in effect
    rollback_started: datetime | None = None  # the fault began to be undone
    ended: datetime | None = None  # the target was back (pods ready, object restored)

    def _update(self, entries: list[Entry]) -> None:
        if not entries:
            return
        self.journal_ids = [e.id for e in entries]
        self.started = _utc(min((e.started_at for e in entries if e.started_at is not None), default=None))
        self.confirmed = _utc(max((e.confirmed_at for e in entries if e.confirmed_at is not None), default=None))
        self.rollback_started = _utc(min((e.undo_started_at for e in entries if e.undo_started_at is not None),
                                         default=None))
        ended = [e.ended_at for e in entries]
        self.ended = _utc(max(e for e in ended if e is not None)) if all(e is not None for e in ended) else None


@contextmanager
def fault(action: Action, /, *, configuration: dict[str, Any] | None = None,
          **arguments: Any) -> Iterator[FaultWindow]:
    """Inject `action(**arguments)` (a function of `harness.chaos.actions`) for
    the duration of the block, then roll back exactly the entries it journaled."""
    journal = Journal(default_journal_path(configuration))
    known = {e.id for e in journal.entries()}
    window = FaultWindow(action=getattr(action, "__name__", str(action)))

    def mine() -> list[Entry]:
        return [e for e in journal.entries() if e.id not in known]

    try:
        window.result = dict(action(**arguments, configuration=configuration) or {})
        window._update(mine())
        yield window
    finally:
        entries = [e for e in mine() if e.state != "dry_run"]
        results = rollback_entries(journal, list(reversed(entries)), configuration)
        window._update(mine())
        failed = [r for r in results if not r["rolled_back"]]
        if failed:
            raise ChaosActionFailed(f"rollback of {window.action} failed: "
                                    + "; ".join(r.get("error", "") for r in failed)
                                    + f" (the journal {journal.path} keeps it for `harness chaos rollback`)")
