"""The live view of `harness certify`: one progress line (done / total, the
requirement running, elapsed, ETA) and, above it, each requirement's verdict
as soon as it is judged. On a terminal a rich progress bar; in a CI log (not
a terminal) one plain line per requirement with the same figures."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.certify.requirement import Requirement
from harness.certify.runner import RequirementResult
from harness.report.figures import figure_text, headline

__all__ = ["LiveView", "eta_s"]

_STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow", "not-applicable": "dim"}


def eta_s(elapsed_s: float, done: int, total: int) -> float | None:
    """Seconds left at the pace so far; None before anything is done."""
    if done <= 0 or total <= done:
        return None if done <= 0 else 0.0
    return elapsed_s / done * (total - done)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


class LiveView:
    """Pass `started` and `finished` to `certify()`; use as a context manager."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.t0 = time.monotonic()
        self.done = 0
        self.total = 0
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=console, transient=True)
        self.task: TaskID | None = None

    def __enter__(self) -> LiveView:
        self.t0 = time.monotonic()
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.live:
            self.progress.stop()

    def started(self, i: int, total: int, requirement: Requirement) -> None:
        self.done, self.total = i, total
        elapsed = time.monotonic() - self.t0
        if self.live:
            if self.task is None:
                self.task = self.progress.add_task(requirement.id, total=total)
            self.progress.update(self.task, completed=i, description=f"{requirement.id}")
        else:
            self.console.print(f"[{i + 1}/{total}] {requirement.id}: {requirement.title} "
                               f"(elapsed {_clock(elapsed)}, ETA {_clock(eta_s(elapsed, i, total))})",
                               style="dim", soft_wrap=True)

    def finished(self, result: RequirementResult) -> None:
        self.done += 1
        verdict = result.verdict.value
        check = headline({"verdict": verdict, "checks": [
            {"name": c.name, "verdict": c.verdict.value, "observed": c.observed, "threshold": c.threshold,
             "unit": c.unit} for c in result.checks]})
        figure = (f": {check['name']} {figure_text(check['observed'], check['unit'])} vs "
                  f"{figure_text(check['threshold'], check['unit'])}") if check else ""
        self.console.print(f"[{_STYLE[verdict]}]{verdict:>13}[/] {result.requirement.id} "
                           f"({result.duration_s:.1f} s){figure}", soft_wrap=True, highlight=False)
        if self.live and self.task is not None:
            self.progress.update(self.task, completed=self.done)
