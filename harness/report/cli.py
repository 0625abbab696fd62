"""`harness report ...`: the pages a person reads, built from a run's files.

- `summary RUN_DIR`: (re)build `summary.html` from `summary.json` and its evidence;
- `allure RUN_DIR`: the Allure report as one HTML file (history kept beside the runs);
- `trend REPORTS_DIR`: verdicts and key figures over the last runs, regressions
  called out; exit 1 when there is one, so a nightly job fails on it.

Bad input (no such run, no runs, Allure missing) is one error line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from harness.diagnostics import ConfigError, Diagnostic

__all__ = ["app"]

app = typer.Typer(help="Reports of certification runs: summary.html, the Allure report, trends.",
                  no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)


def _summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    try:
        data = json.loads(path.read_text())
    except OSError:
        raise ConfigError(Diagnostic("error", str(path), "cannot be read",
                                     fix="pass a run directory 'harness certify' wrote (reports/<run-id>)")) from None
    except ValueError as exc:
        raise ConfigError(Diagnostic("error", str(path), f"is not JSON ({exc})",
                                     fix="rerun 'harness certify' to write it again")) from None
    if not isinstance(data, dict) or "requirements" not in data:
        raise ConfigError(Diagnostic("error", str(path), "is not a certification summary (no requirements)",
                                     fix="pass a run directory 'harness certify' wrote (reports/<run-id>)"))
    return data


@app.command("summary")
def summary_command(run_dir: Path = typer.Argument(..., help="a run directory: reports/<run-id>")) -> None:
    """(Re)build summary.html of a run."""
    from harness.report.html import write_summary_html

    path = write_summary_html(run_dir, _summary(run_dir))
    out.print(f"summary: {path}")


@app.command("allure")
def allure_command(
    run_dir: Path = typer.Argument(..., help="a run directory: reports/<run-id>"),
    history: Path = typer.Option(None, "--history", help="Allure history file carried between runs "
                                 "(default: allure-history.jsonl beside the run directories)"),
) -> None:
    """Build the Allure report of a run as one HTML file (allure-report/index.html)."""
    from harness.report.allure_build import build_allure_report

    _summary(run_dir)
    built = build_allure_report(run_dir, history)
    out.print(f"allure report: {built.report} (history: {built.history})")


@app.command("trend")
def trend_command(
    reports: Path = typer.Argument(Path("reports"), help="the directory holding the runs (<run-id>/summary.json)"),
    last: int = typer.Option(10, "--last", min=2, help="how many of the latest runs"),
    output: Path = typer.Option(None, "--out", help="where trend.html and trend.json go (default: REPORTS)"),
) -> None:
    """Verdict history and key figures over the last runs; exit 1 on a regression."""
    from harness.report.trend_io import write_trend

    data, json_path, html_path = write_trend(reports, last, output)
    for r in data["regressions"]:
        out.print(f"regression: {r['message']}", style="bold red")
    out.print(f"{len(data['runs'])} runs, {len(data['regressions'])} regressions; trend: {html_path} ({json_path.name})")
    if data["regressions"]:
        raise typer.Exit(1)
