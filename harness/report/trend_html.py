"""The trend page: regressions first, then per requirement its verdict
history (one cell per run, oldest left) and its key figures with a
sparkline. Self-contained HTML, no script, no network."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from harness.report.figures import figure_text
from harness.report.html import CSS
from harness.report.trend import FIGURE_RULES

__all__ = ["trend_html"]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _sparkline(values: list[float | None], width: int = 140, height: int = 28) -> str:
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return ""
    low, high = min(v for _, v in points), max(v for _, v in points)
    span = (high - low) or 1.0
    step = width / max(1, len(values) - 1)
    xy = [(i * step, height - 3 - (v - low) / span * (height - 6)) for i, v in points]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    last_x, last_y = xy[-1]
    return (f'<svg width="{width}" height="{height}" viewBox="-3 0 {width + 6} {height}" role="img">'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{line}"/>'
            f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5" fill="#d62728"/></svg>')


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%m-%d %H:%M")


def trend_html(data: dict[str, Any]) -> str:
    runs = data["runs"]
    regressed = {(r["requirement"], r["figure"]) for r in data["regressions"]}
    if data["regressions"]:
        items = "".join(f'<li data-regression="{_e(r["requirement"])}" data-kind="{_e(r["kind"])}">'
                        f'{_e(r["message"])}</li>' for r in data["regressions"])
        box = f'<div class="broken"><h2 style="border:0">Regressions ({len(data["regressions"])})</h2><ol>{items}</ol></div>'
    else:
        box = '<div class="ok"><h2 style="border:0">No regression</h2><p>The latest run is no worse than its recent runs.</p></div>'
    heads = "".join(f'<th title="{_e(r["run_id"])}">{_e(_day(r["started"]))}<br><span class="muted">'
                    f'{_e(r["target"])}/{_e(r["profile"])}</span></th>' for r in runs)
    scores = "".join(f"<td>{_e(figure_text(r['score']))}</td>" for r in runs)
    rows = [f"<tr><th>requirement</th><th>figure</th>{heads}<th>trend</th></tr>",
            f'<tr><td colspan="2"><b>run score</b></td>{scores}<td></td></tr>']
    for rid, req in data["requirements"].items():
        cells = "".join(f'<td><span class="verdict v-{_e(v)}">{_e(v)}</span></td>' if v else "<td>-</td>"
                        for v in req["verdicts"])
        flag = ' data-regressed="verdict"' if (rid, None) in regressed else ""
        rows.append(f'<tr data-requirement="{_e(rid)}"{flag}><td><b>{_e(rid)}</b></td><td>verdict</td>{cells}<td></td></tr>')
        for name, values in req["figures"].items():
            rule = FIGURE_RULES[name]
            bad = (rid, name) in regressed
            tds = "".join(
                ("<td>-</td>" if v is None else
                 f'<td{" class=v-fail" if bad and i == len(values) - 1 else ""}>{v:.4g}{_e(rule.unit)}</td>')
                for i, v in enumerate(values))
            mark = f' data-regressed="{_e(name)}"' if bad else ""
            rows.append(f'<tr data-figure="{_e(name)}" data-of="{_e(rid)}"{mark}><td></td><td>{_e(rule.label)}</td>'
                        f"{tds}<td>{_sparkline(values)}</td></tr>")
    span = (f"{_e(runs[0]['run_id'])} to {_e(runs[-1]['run_id'])}" if runs else "no runs")
    body = (f"<h1>Certification trend ({len(runs)} runs)</h1><p class=\"muted\">{span}; how noise is judged: "
            f"{_e(data['noise_rule'])}.</p>{box}<h2>History</h2><table id=\"trend\">{''.join(rows)}</table>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Certification trend</title>'
            f"<style>{CSS}</style></head><body>{body}</body></html>")
