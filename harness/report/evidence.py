"""Reading a requirement's evidence files back from its run directory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.chaos.journal import Journal, JournalError

__all__ = ["journal_entries"]


def journal_entries(run_dir: Path, evidence: Sequence[str]) -> list[dict[str, Any]]:
    """Every fault-journal entry among the evidence (`*.jsonl`), oldest first;
    a file that is not a journal is skipped."""
    entries: list[dict[str, Any]] = []
    for rel in evidence:
        if rel.endswith(".jsonl"):
            try:
                entries += [asdict(e) for e in Journal(run_dir / rel).entries()]
            except JournalError:
                continue
    return sorted(entries, key=lambda e: e["created"])
