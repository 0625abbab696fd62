"""The benchmarks' summary: median, range and the runs that kept the budget."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[3] / "benchmarks"))
from runs import Figure, check_runs, summary_table  # noqa: E402


def test_a_row_gives_median_range_and_the_runs_within_budget() -> None:
    row = Figure("200 streams: TTFT overhead p99", [4.0, 12.5, 7.0], budget=10.0).row()
    assert row == "| 200 streams: TTFT overhead p99 | 7.0 ms | 4.0 ms to 12.5 ms | <= 10 ms | 2/3 |"


def test_a_lower_bound_and_a_run_without_samples() -> None:
    row = Figure("ratio", [0.9, float("nan"), 0.4], unit="", budget=0.5, at_least=True, digits=2).row()
    assert row == "| ratio | 0.65 | 0.40 to 0.90 | >= 0.5 | 1/3 |"
    assert "n/a" in Figure("empty", [float("nan")] * 3).row()


def test_fewer_than_three_runs_is_refused_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_runs(3) == 3
    with pytest.raises(SystemExit) as exit_:
        check_runs(2)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == "error: --runs 2: a figure needs at least 3 runs (fix: --runs 3)"


def test_the_table_names_the_command_and_the_machine() -> None:
    table = summary_table("T", [Figure("x", [1.0, 2.0, 3.0])], 3)
    assert "3 runs" in table and "cores, load average" in table and "| x | 2.0 ms | 1.0 ms to 3.0 ms | - | - |" in table
