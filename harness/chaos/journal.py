"""The fault journal: every action writes what it is about to do, and how to
undo it, *before* it acts; rollback replays the undo of every entry not yet
rolled back, newest first. Append-only JSON lines (a crash loses nothing
already written); the last line per entry id wins."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

__all__ = ["Entry", "Journal", "JournalError", "EntryState", "default_journal_path", "DONE_STATES"]

EntryState = Literal["planned", "injected", "confirmed", "failed", "rolled_back", "rollback_failed", "dry_run"]
DONE_STATES: tuple[EntryState, ...] = ("rolled_back", "dry_run")
_REQUIRED = ("id", "action", "state", "undo")


class JournalError(Exception):
    """The file is not a fault journal."""

    def __init__(self, path: Path, message: str, line: int | None = None) -> None:
        self.path, self.message, self.line = path, message, line
        super().__init__(f"{path}{f':{line}' if line else ''}: {message}")


def default_journal_path(configuration: dict[str, Any] | None = None) -> Path:
    cfg = configuration or {}
    return Path(str(cfg.get("harness_journal") or os.environ.get("HARNESS_CHAOS_JOURNAL")
                    or "reports/chaos/journal.jsonl"))


@dataclass
class Entry:
    action: str
    target: dict[str, Any]  # how to rebuild the target: harness_target, harness_stack, harness_namespace
    params: dict[str, Any]
    undo: dict[str, Any]  # {"op": name, "args": {...}}
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: EntryState = "planned"
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    note: str = ""
    # Wall-clock (epoch seconds) marks of the fault's life, for the analysis.
    started_at: float | None = None  # the act began
    confirmed_at: float | None = None  # the fault was seen in effect
    undo_started_at: float | None = None  # the rollback began
    ended_at: float | None = None  # the rollback finished (the target is back)


_FIELDS = {f.name for f in fields(Entry)}


class Journal:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _append(self, entry: Entry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry.updated = time.time()
        line = (json.dumps(asdict(entry)) + "\n").encode()
        with open(self.path, "a+b") as f:
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a line cut by a crash: never glue this entry onto it
                    line = b"\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def record(self, entry: Entry) -> Entry:
        self._append(entry)
        return entry

    def mark(self, entry: Entry, state: EntryState, note: str = "") -> None:
        """A new state for the entry; its note says why (and is cleared when
        the new state needs no explanation, as after a successful retry)."""
        entry.state = state
        entry.note = note
        self._append(entry)

    def entries(self) -> list[Entry]:
        """Every entry in its latest state, oldest first. A line cut by a crash
        mid-write is skipped; any other line that is not an
        entry raises JournalError: this file is not a fault journal."""
        if not self.path.exists():
            return []
        try:
            lines = self.path.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise JournalError(self.path, f"cannot be read as a fault journal ({exc})") from None
        latest: dict[str, Entry] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            entry = _parse(line)
            if entry is None:
                if line.startswith('{"action": '):
                    continue  # an entry cut short by a crash mid-write
                raise JournalError(self.path, f"not a fault journal entry (a JSON object with {', '.join(_REQUIRED)}, "
                                   "as `harness chaos run` writes)", number)
            latest[entry.id] = entry
        return sorted(latest.values(), key=lambda e: e.created)

    def pending(self) -> list[Entry]:
        """Entries whose fault may still be in place, newest first."""
        return [e for e in reversed(self.entries()) if e.state not in DONE_STATES]


def _parse(line: str) -> Entry | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED):
        return None
    return Entry(**{k: v for k, v in data.items() if k in _FIELDS})
