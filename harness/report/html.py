"""`summary.html`: one self-contained page a release manager signs off from.

Read top to bottom it answers "which promise broke, when, and by how much":
the verdict, score and per-feature result; the broken promises first, each
with its figure against the threshold, when it ran (and when its fault hit)
and the command that reruns it alone; then every requirement with its checks
and, for resilience requirements, the plot over time. No script, no network:
styles and plots (inline SVG) are in the file."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.report.figures import figure_text, headline, ordered
from harness.report.plots import timeline_svg

__all__ = ["summary_html", "write_summary_html", "load_timelines", "SUMMARY_HTML"]

SUMMARY_HTML = "summary.html"

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1180px;
color:#1b1b1b;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}th,td{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}
.verdict{font-weight:600;padding:1px 6px;border-radius:3px;white-space:nowrap}
.v-pass{background:#dff3df;color:#135e13}.v-fail{background:#fbdcdc;color:#8a1010}
.v-inconclusive{background:#fff1c7;color:#6b5300}.v-not-applicable{background:#eee;color:#555}
.r-success{color:#135e13}.r-failure{color:#8a1010}.r-partial{color:#6b5300}
code,pre{background:#f6f6f6;padding:1px 4px;border-radius:3px;font-size:12.5px}
pre{padding:6px 8px;white-space:pre-wrap;word-break:break-all}
.broken{border:2px solid #c62828;border-radius:6px;padding:6px 14px;margin:12px 0;background:#fff8f8}
.ok{border:2px solid #2e7d32;border-radius:6px;padding:6px 14px;margin:12px 0;background:#f6fff6}
.req{border-top:1px solid #ccc;padding-top:6px}.muted{color:#666}.plot svg{max-width:100%;height:auto}
.score{font-size:28px;font-weight:700}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _clock(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _verdict(v: str) -> str:
    return f'<span class="verdict v-{_e(v)}">{_e(v)}</span>'


def _missed_by(check: dict[str, Any]) -> str:
    """How far a failed figure is from its threshold, when both are numbers."""
    observed, threshold = check.get("observed"), check.get("threshold")
    if check["verdict"] != "fail" or not isinstance(observed, (int, float)):
        return ""
    if isinstance(threshold, (int, float)):
        return f" (off by {figure_text(abs(float(observed) - float(threshold)), check['unit'])})"
    if isinstance(threshold, str) and threshold.startswith("[") and "," in threshold:
        low, high = (float(x) for x in threshold.strip("[]").split(","))
        gap = low - observed if observed < low else observed - high
        return f" (outside by {figure_text(gap, check['unit'])})"
    return ""


def _observed_vs(check: dict[str, Any] | None) -> str:
    if check is None:
        return "-"
    return (f"{_e(check['name'])}: <b>{_e(figure_text(check['observed'], check['unit']))}</b> vs "
            f"{_e(figure_text(check['threshold'], check['unit']))}{_e(_missed_by(check))}")


def _fault_lines(timeline: dict[str, Any] | None) -> list[str]:
    if not timeline:
        return []
    out = []
    for f in timeline.get("faults", []):
        origin = timeline["origin"]
        end = f["end"] if f["end"] is not None else f["undo"]
        parts = [f"{_e(f['action'])} on <code>{_e(f['target'] or '-')}</code> at {_e(_clock(origin + f['start']))}"
                 f" (+{f['start']:.1f} s)"]
        parts.append(f"rolled back at +{end:.1f} s" if end is not None else "not rolled back during the run")
        since = "the rollback began" if f.get("recover_from") == "rollback" else "the fault began"
        parts.append(f"failed over {f['time_to_failover_s']:.1f} s after the fault began"
                     if f["time_to_failover_s"] is not None else "failed over: not seen")
        parts.append(f"recovered {f['time_to_recover_s']:.1f} s after {since}"
                     if f["time_to_recover_s"] is not None else "recovered: not seen")
        out.append(", ".join(parts))
    return out


def _broken_box(summary: dict[str, Any], timelines: dict[str, dict[str, Any]]) -> str:
    bad = [r for r in ordered(summary["requirements"]) if r["verdict"] in ("fail", "inconclusive")]
    if not bad:
        return '<div class="ok"><h2 style="border:0">Every promise kept</h2><p>All judged requirements passed.</p></div>'
    items = []
    for r in bad:
        failed = [c for c in r["checks"] if c["verdict"] == r["verdict"]]
        checks = "".join(f"<li>{_observed_vs(c)}: {_e(c['reason'])}</li>" for c in failed)
        faults = "".join(f"<li>fault: {line}</li>" for line in _fault_lines(timelines.get(r["id"])))
        items.append(
            f'<li data-broken="{_e(r["id"])}">{_verdict(r["verdict"])} <a href="#req-{_e(r["id"])}"><b>'
            f'{_e(r["id"])}</b></a>: {_e(r["title"])}<ul>{checks}'
            f"<li>ran at {_e(_clock(r['started']))} for {r['duration_s']:.1f} s</li>{faults}"
            f'<li>rerun alone: <code class="rerun">{_e(r["rerun"])}</code></li></ul></li>')
    return (f'<div class="broken"><h2 style="border:0">Broken or unproven promises ({len(bad)})</h2>'
            f'<ol>{"".join(items)}</ol></div>')


def _verdict_table(summary: dict[str, Any]) -> str:
    rows = []
    for r in ordered(summary["requirements"]):
        rows.append(
            f'<tr data-requirement="{_e(r["id"])}" data-verdict="{_e(r["verdict"])}">'
            f'<td><a href="#req-{_e(r["id"])}">{_e(r["id"])}</a></td><td>{_e(r["feature"])}</td>'
            f'<td>{_verdict(r["verdict"])}</td><td>{_observed_vs(headline(r))}</td>'
            f'<td>{r["duration_s"]:.1f} s</td></tr>')
    return ('<table id="verdicts"><tr><th>requirement</th><th>feature</th><th>verdict</th>'
            f'<th>observed vs threshold</th><th>time taken</th></tr>{"".join(rows)}</table>')


def _features(summary: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr data-feature="{_e(name)}"><td>{_e(name)}</td><td class="r-{_e(f["result"])}"><b>{_e(f["result"])}</b>'
        f'</td><td>{f.get("pass", 0)}</td><td>{f.get("fail", 0)}</td><td>{f.get("inconclusive", 0)}</td>'
        f'<td>{f.get("not-applicable", 0)}</td></tr>' for name, f in summary["features"].items())
    return ('<table id="features"><tr><th>feature</th><th>result</th><th>pass</th><th>fail</th>'
            f'<th>inconclusive</th><th>not applicable</th></tr>{rows}</table>')


def _requirement(r: dict[str, Any], timeline: dict[str, Any] | None) -> str:
    checks = "".join(
        f'<tr><td>{_e(c["name"])}</td><td>{_verdict(c["verdict"])}</td>'
        f'<td>{_e(figure_text(c["observed"], c["unit"]))}</td><td>{_e(figure_text(c["threshold"], c["unit"]))}</td>'
        f'<td>{_e(c["reason"])}{_e(_missed_by(c))}</td></tr>' for c in r["checks"])
    evidence = ", ".join(f'<a href="{_e(p)}">{_e(p.rsplit("/", 1)[-1])}</a>' for p in r["evidence"]) or "none"
    parts = [f'<section class="req" id="req-{_e(r["id"])}" data-requirement="{_e(r["id"])}">',
             f'<h3>{_verdict(r["verdict"])} {_e(r["id"])}: {_e(r["title"])}</h3>',
             f'<p class="muted">{_e(r["kind"])} / {_e(r["feature"])}; ran at {_e(_clock(r["started"]))} '
             f'for {r["duration_s"]:.1f} s; must fail on: {_e(r["broken_mesh"])}</p>',
             '<table><tr><th>check</th><th>verdict</th><th>observed</th><th>threshold</th><th>why</th></tr>'
             f'{checks}</table>', f'<p>rerun alone: <code class="rerun">{_e(r["rerun"])}</code></p>']
    if timeline is not None:
        for line in _fault_lines(timeline):
            parts.append(f"<p>fault: {line}</p>")
        figures = timeline.get("figures", {})
        parts.append(f'<p class="muted">{figures.get("requests", 0)} requests under load; availability '
                     f'{_e(figure_text(figures.get("availability")))}, TTFT p95 '
                     f'{_e(figure_text(figures.get("ttft_p95_ms"), " ms"))}</p>')
        parts.append(f'<div class="plot" data-plot="{_e(r["id"])}">{timeline_svg(timeline, r["id"])}</div>')
    parts.append(f'<p class="muted">evidence: {evidence}</p></section>')
    return "\n".join(parts)


def summary_html(summary: dict[str, Any], timelines: dict[str, dict[str, Any]]) -> str:
    """The page for a run summary (`summary.json` as a dict) and the
    timelines of its requirements (requirement id -> timeline)."""
    counts = summary["counts"]
    score = "-" if summary["score"] is None else f"{summary['score']:g}"
    overall = {0: "pass", 1: "fail", 3: "inconclusive"}.get(summary["exit_code"], "fail")
    head = (f'<h1>Certification {_e(summary["run_id"])} {_verdict(overall)}</h1>'
            f'<p class="muted">target <b>{_e(summary["target"])}</b>, profile <b>{_e(summary["profile"])}</b>; '
            f'started {_e(_clock(summary["started"]))}, took {summary["duration_s"]:.0f} s'
            + (f'; Istio from {_e(", ".join(summary["istio"]))}' if summary.get("istio") else "")
            + (f'; SLO {_e(summary["slo"])}' if summary.get("slo") else "") + "</p>"
            f'<p><span class="score" id="score">{score}</span> run score (weighted share of judged requirements '
            f'that passed) &middot; {counts.get("pass", 0)} passed, {counts.get("fail", 0)} failed, '
            f'{counts.get("inconclusive", 0)} inconclusive, {counts.get("not-applicable", 0)} not applicable</p>')
    body = [head, _broken_box(summary, timelines), "<h2>Features</h2>", _features(summary),
            "<h2>Requirements</h2>", _verdict_table(summary), "<h2>Details</h2>"]
    body += [_requirement(r, timelines.get(r["id"])) for r in ordered(summary["requirements"])]
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Certification '
            f'{_e(summary["run_id"])}</title><style>{CSS}</style></head><body>{"".join(body)}</body></html>')


def load_timelines(run_dir: Path, summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each requirement's timeline evidence (`.../timeline.json`), where it has one."""
    out = {}
    for r in summary["requirements"]:
        for rel in r["evidence"]:
            path = run_dir / rel
            if rel.endswith("timeline.json") and path.is_file():
                out[r["id"]] = json.loads(path.read_text())
    return out


def write_summary_html(run_dir: Path, summary: dict[str, Any]) -> Path:
    path = run_dir / SUMMARY_HTML
    path.write_text(summary_html(summary, load_timelines(run_dir, summary)), encoding="utf-8")
    return path
