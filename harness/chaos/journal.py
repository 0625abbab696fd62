"""The fault journal: every action writes what it is about to do, and how to
undo it, *before* it acts; rollback replays the undo of every entry not yet
rolled back, newest first. Append-only JSON lines (a crash loses nothing
already written); the last line per entry id wins."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Entry", "Journal", "default_journal_path", "DONE_STATES"]

DONE_STATES = ("rolled_back", "dry_run", "nothing_to_undo")


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
    state: str = "planned"  # planned | injected | confirmed | failed | rolled_back | rollback_failed | dry_run
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    note: str = ""


class Journal:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def _append(self, entry: Entry) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry.updated = time.time()
        with open(self.path, "a") as f:
            f.write(json.dumps(asdict(entry)) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def record(self, entry: Entry) -> Entry:
        self._append(entry)
        return entry

    def mark(self, entry: Entry, state: str, note: str = "") -> None:
        entry.state = state
        if note:
            entry.note = note
        self._append(entry)

    def entries(self) -> list[Entry]:
        if not self.path.exists():
            return []
        latest: dict[str, Entry] = {}
        for line in self.path.read_text().splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash mid-write
            latest[data["id"]] = Entry(**data)
        return sorted(latest.values(), key=lambda e: e.created)

    def pending(self) -> list[Entry]:
        """Entries whose fault may still be in place, newest first."""
        return [e for e in reversed(self.entries()) if e.state not in DONE_STATES]
