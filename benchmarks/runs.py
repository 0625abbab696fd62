"""Repeated runs and their summary, shared by the benchmarks: every figure is
reported as the median and the range of at least three runs, with how many
runs kept the budget, because a figure that one run in three misses is not a
figure. The table is Markdown, ready for the README, headed by the date,
the command and the machine's state (cores, load average at the start).
"""

from __future__ import annotations

import os
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MIN_RUNS", "Figure", "check_runs", "summary_table"]

MIN_RUNS = 3
_LOAD_AT_START = os.getloadavg()[0]  # taken when the benchmark imports this module, before it measures


@dataclass(frozen=True)
class Figure:
    """One figure measured once per run; `budget` is an upper bound (or a
    lower bound with `at_least`), None when the figure has none."""

    name: str
    values: Sequence[float]
    unit: str = "ms"
    budget: float | None = None
    at_least: bool = False
    digits: int = 1

    def within(self, value: float) -> bool:
        assert self.budget is not None
        return value >= self.budget if self.at_least else value <= self.budget

    def row(self) -> str:
        vals = [v for v in self.values if v == v]  # NaN: the run had no sample
        if not vals:
            return f"| {self.name} | n/a | n/a | {self._budget()} | 0/{len(self.values)} |"
        med = statistics.median(vals)
        held = f"{sum(self.within(v) for v in vals)}/{len(self.values)}" if self.budget is not None else "-"
        return (f"| {self.name} | {self._fmt(med)} | {self._fmt(min(vals))} to {self._fmt(max(vals))} | "
                f"{self._budget()} | {held} |")

    def _fmt(self, value: float) -> str:
        return f"{value:.{self.digits}f}" + (f" {self.unit}" if self.unit else "")

    def _budget(self) -> str:
        if self.budget is None:
            return "-"
        return f"{'>=' if self.at_least else '<='} {self.budget:g}" + (f" {self.unit}" if self.unit else "")


def check_runs(runs: int) -> int:
    """The --runs value, refused below the minimum with one line and exit 2."""
    if runs < MIN_RUNS:
        sys.stderr.write(f"error: --runs {runs}: a figure needs at least {MIN_RUNS} runs (fix: --runs {MIN_RUNS})\n")
        raise SystemExit(2)
    return runs


def summary_table(title: str, figures: Sequence[Figure], runs: int, note: str = "") -> str:
    """The Markdown summary: date, command, machine, then one row per figure."""
    load = os.getloadavg()[0]
    head = [f"### {title}", "",
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `{shlex.join(['.venv/bin/python', *sys.argv])}`; "
            f"{runs} runs; {os.cpu_count()} cores, load average {_LOAD_AT_START:.1f} at the start, {load:.1f} at the end"]
    if note:
        head.append(note)
    rows = ["| figure | median | range | budget | runs within budget |", "|---|---|---|---|---|"]
    return "\n".join([*head, "", *rows, *(f.row() for f in figures)])
