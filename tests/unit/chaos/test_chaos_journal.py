"""The fault journal: written before acting, last line per entry wins, a
line cut by a crash is skipped and never swallows the next entry, a file
that is not a journal is an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.chaos.journal import Entry, Journal, JournalError, default_journal_path


def entry(action: str = "kill_pods") -> Entry:
    return Entry(action=action, target={"harness_target": "fake"}, params={}, undo={"op": "wait_ready", "args": {}})


def test_the_latest_state_of_each_entry_wins_and_pending_is_newest_first(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    first, second, third = entry("a"), entry("b"), entry("c")
    for e in (first, second, third):
        journal.record(e)
    journal.mark(first, "confirmed")
    journal.mark(second, "rolled_back")
    journal.mark(third, "dry_run")
    assert [(e.action, e.state) for e in journal.entries()] == [("a", "confirmed"), ("b", "rolled_back"),
                                                                ("c", "dry_run")]
    assert [e.action for e in journal.pending()] == ["a"]
    assert len((tmp_path / "j.jsonl").read_text().splitlines()) == 6  # append-only


def test_a_new_state_replaces_the_note_of_an_earlier_failed_attempt(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    e = journal.record(entry())
    journal.mark(e, "rollback_failed", "only 1 of 2 pods ready")
    journal.mark(e, "rolled_back")
    [read] = journal.entries()
    assert (read.state, read.note) == ("rolled_back", "")


def test_a_line_cut_by_a_crash_is_skipped_and_the_next_entry_survives(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.record(entry("before"))
    with open(path, "a") as f:
        f.write(json.dumps({"action": "cut", "id": "x"})[:15])  # no newline: the crash came mid-write
    journal.record(entry("after"))
    assert [e.action for e in journal.entries()] == ["before", "after"]


@pytest.mark.parametrize("text, line", [
    ("hello\nworld\n", 1),
    ('{"id": "x"}\n', 1),
    ("[1, 2]\n", 1),
])
def test_a_file_that_is_not_a_journal_is_an_error_naming_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(text)
    with pytest.raises(JournalError, match="not a fault journal entry") as info:
        Journal(path).entries()
    assert info.value.line == line and info.value.path == path


def test_an_absent_journal_has_no_entries(tmp_path: Path) -> None:
    assert Journal(tmp_path / "none.jsonl").entries() == []


def test_the_journal_path_comes_from_the_configuration_then_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CHAOS_JOURNAL", "from-env.jsonl")
    assert default_journal_path({"harness_journal": "cfg.jsonl"}) == Path("cfg.jsonl")
    assert default_journal_path(None) == Path("from-env.jsonl")
    monkeypatch.delenv("HARNESS_CHAOS_JOURNAL")
    assert default_journal_path({}) == Path("reports/chaos/journal.jsonl")
