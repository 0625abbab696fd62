"""Reading the runs under a reports directory for the trend, and writing
`trend.json` and `trend.html` beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.diagnostics import ConfigError, Diagnostic
from harness.report.html import load_timelines
from harness.report.trend import FIGURE_RULES, RunFigures, trend
from harness.report.trend_html import trend_html

__all__ = ["load_runs", "run_figures", "write_trend"]


def run_figures(run_dir: Path, summary: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per requirement the key figures: from its timeline, else its availability check."""
    timelines = load_timelines(run_dir, summary)
    out: dict[str, dict[str, float | None]] = {}
    for r in summary["requirements"]:
        figures = {k: v for k, v in timelines.get(r["id"], {}).get("figures", {}).items() if k in FIGURE_RULES}
        if figures.get("availability") is None:
            check = next((c for c in r["checks"] if c["name"].startswith("availability")
                          and isinstance(c["observed"], (int, float))), None)
            if check is not None:
                figures["availability"] = float(check["observed"])
        out[r["id"]] = figures
    return out


def load_runs(reports: Path, last: int) -> list[RunFigures]:
    """The last `last` runs (by start time) with a readable summary.json; ConfigError when there is none."""
    if not reports.is_dir():
        raise ConfigError(Diagnostic("error", str(reports), "is not a directory",
                                     fix="pass the reports directory certify writes (reports/)"))
    runs = []
    for path in sorted(reports.glob("*/summary.json")):
        try:
            summary = json.loads(path.read_text())
            runs.append(RunFigures(summary, run_figures(path.parent, summary)))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a run cut short or another tool's file: not part of the trend
    if not runs:
        raise ConfigError(Diagnostic("error", str(reports), "holds no run (no <run-id>/summary.json)",
                                     fix="run 'harness certify' first, or pass the directory it wrote to"))
    runs.sort(key=lambda r: r.summary["started"])
    return runs[-last:]


def write_trend(reports: Path, last: int, out: Path | None = None) -> tuple[dict[str, Any], Path, Path]:
    """(trend, trend.json path, trend.html path)."""
    data = trend(load_runs(reports, last))
    target = out or reports
    target.mkdir(parents=True, exist_ok=True)
    json_path, html_path = target / "trend.json", target / "trend.html"
    json_path.write_text(json.dumps(data, indent=2))
    html_path.write_text(trend_html(data), encoding="utf-8")
    return data, json_path, html_path
