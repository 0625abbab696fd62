"""The load command line: threshold flags derived from `Thresholds` (one
declaration for the harness CLI, stock Locust and the docs), the `--csv`
directory-or-prefix rule, and help that shows no type for flags."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from harness.cli import app
from harness.load.records import ErrorKind
from harness.load.runner import csv_destination
from harness.load.thresholds import Thresholds, threshold_flags

DOCS = Path(__file__).resolve().parents[3] / "docs" / "load.md"


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_limit_is_a_flag_and_only_limits_are() -> None:
    flags = {f.name: f for f in threshold_flags()}
    assert set(flags) == {f.name for f in fields(Thresholds)} - {"min_requests"}
    assert flags["max_ttft_p95_ms"].flag == "--max-ttft-p95-ms" and flags["max_ttft_p95_ms"].is_max
    assert flags["min_output_tokens_per_s"].figure == "output_tokens_per_s"
    assert not flags["min_output_tokens_per_s"].is_max


def test_thresholds_as_args_names_only_the_set_limits() -> None:
    t = Thresholds(max_e2e_p95_ms=900.0, min_output_tokens_per_s=50.0)
    assert t.as_args() == ["--max-e2e-p95-ms", "900.0", "--min-output-tokens-per-s", "50.0"]
    assert Thresholds().as_args() == [] and not Thresholds().any and t.any


def test_harness_load_accepts_every_threshold_flag_and_the_docs_name_them() -> None:
    text = _help("load")
    docs = DOCS.read_text()
    for f in threshold_flags():
        assert f.flag in text, f.flag
        assert f"`{f.flag}`" in docs, f"docs/load.md does not document {f.flag}"


def test_threshold_flags_reach_the_command_as_one_thresholds_value(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Thresholds] = []

    def fake_run(*args: object, thresholds: Thresholds, **kwargs: object) -> None:
        seen.append(thresholds)
        raise typer.Exit(0)

    monkeypatch.setattr("harness.load.cli.LoadRun", fake_run)
    result = CliRunner().invoke(app, ["load", "--profile", "chat_stream", "--headless", "--host", "http://x",
                                      "--max-e2e-p95-ms", "1500", "--max-error-rate", "0.02"])
    assert result.exit_code == 0, result.output
    assert seen == [Thresholds(max_error_rate=0.02, max_e2e_p95_ms=1500.0)]


def _commands(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    command = typer.main.get_command(group)
    out = [prefix]

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            out.append((*path, name))
            walk(sub, (*path, name))

    walk(command, prefix)
    return out


def test_no_command_shows_a_type_for_a_flag() -> None:
    commands = _commands(app)
    assert ("load", "ui") in commands and ("load",) in commands
    for path in commands:
        text = _help(*path)
        assert "<bool>" not in text, f"`harness {' '.join(path)} --help` shows <bool>"
    assert "<int>" in _help("load")  # options that take a value still show their type


@pytest.mark.parametrize("given,prefix,records", [
    ("out/", "out/locust", "out/records.jsonl"),
    ("reports/nightly.1/", "reports/nightly.1/locust", "reports/nightly.1/records.jsonl"),
    ("reports/nightly", "reports/nightly", "reports/nightly_records.jsonl"),
    ("reports/nightly.1", "reports/nightly.1", "reports/nightly.1_records.jsonl"),
])
def test_csv_is_a_directory_by_trailing_slash_else_a_prefix(given: str, prefix: str, records: str) -> None:
    assert csv_destination(given) == (Path(prefix), Path(records))


def test_csv_naming_an_existing_directory_is_that_directory(tmp_path: Path) -> None:
    dotted = tmp_path / "tmp.Xy12"  # as `mktemp -d` names them
    dotted.mkdir()
    assert csv_destination(str(dotted)) == (dotted / "locust", dotted / "records.jsonl")


def test_error_kinds_are_strings_in_records() -> None:
    assert ErrorKind.STREAM_CUT == "stream_cut" and isinstance(ErrorKind.STREAM_CUT, str)
    assert {k.value for k in ErrorKind} >= {"connect", "timeout", "http", "stream_cut", "malformed_event",
                                             "stream_error", "client_saturated"}


def test_every_flag_the_load_docs_name_is_accepted_by_harness_load() -> None:
    flag = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
    accepted = set(flag.findall(_help("load") + _help("load", "ui")))
    named = set(flag.findall(DOCS.read_text()))
    assert named, "docs/load.md names no flag"
    unknown = sorted(named - accepted)
    assert not unknown, f"docs/load.md names flags `harness load` does not accept: {unknown}"
