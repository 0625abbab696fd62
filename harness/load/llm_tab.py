"""The web UI's "LLM" tab: a table (TTFT / ITL percentiles and output tokens/s
per request name) through Locust's extension points (extended_tabs /
extended_tables / extended_stats / extended_csv_files), and charts over time
per user class and tier, drawn as SVG by a small script of our own
(`static/llm_charts.js`, no CDN: the UI must work offline) that the tab's
page loads. The script polls `/llm/history` as Locust's charts poll their
stats; `/llm/history.csv` is the same data as a download.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.load.records import RequestRecord
from harness.load.timeline import points_csv
from harness.stats import percentile

if TYPE_CHECKING:
    from harness.load.plugin import RecordSink
    from harness.load.timeline import Timeline

__all__ = ["extend_web_ui", "table_rows", "TABLE_STRUCTURE", "TABLE_WINDOW"]

_SCRIPT = Path(__file__).parent / "static" / "llm_charts.js"
_SCRIPT_TAG = '<script src="./llm/charts.js"></script>'

TABLE_WINDOW = 5_000  # the newest requests the table summarises
TABLE_STRUCTURE = [
    {"key": "name", "title": "Name"}, {"key": "requests", "title": f"Requests (last {TABLE_WINDOW:,})"},
    {"key": "failures", "title": "Failures"}, {"key": "ttft_p50", "title": "TTFT p50 (ms)"},
    {"key": "ttft_p95", "title": "TTFT p95 (ms)"}, {"key": "ttft_p99", "title": "TTFT p99 (ms)"},
    {"key": "itl_p50", "title": "ITL p50 (ms)"}, {"key": "itl_p99", "title": "ITL p99 (ms)"},
    {"key": "tokens_per_s", "title": "Output tokens/s (10 s)"}]


def table_rows(finished: Iterable[tuple[float, RequestRecord]], started: float, now: float,
               window_s: float = 10.0) -> list[dict[str, Any]]:
    """Per request name: TTFT / ITL percentiles over `finished` ((monotonic
    finish time, record) of the newest requests), and output tokens/s over
    the last `window_s` before `now` (over the run's age while it is younger)."""
    by_name: dict[str, list[tuple[float, RequestRecord]]] = {}
    for t, r in finished:
        by_name.setdefault(f"{r.api}{' stream' if r.stream else ''} [{r.scenario}]", []).append((t, r))
    span = min(window_s, max(1e-9, now - started))
    rows = []
    for name, items in sorted(by_name.items()):
        ok = [r for _, r in items if r.ok]
        ttft = [r.ttft_s * 1000 for r in ok if r.ttft_s is not None]
        itl = [g * 1000 for r in ok for g in r.itl_s]
        tokens = sum(r.output_tokens or 0 for t, r in items if r.ok and now - t <= window_s)
        rows.append({"name": name, "requests": len(items), "failures": len(items) - len(ok),
                     "ttft_p50": _ms(ttft, 0.5), "ttft_p95": _ms(ttft, 0.95), "ttft_p99": _ms(ttft, 0.99),
                     "itl_p50": _ms(itl, 0.5), "itl_p99": _ms(itl, 0.99), "tokens_per_s": f"{tokens / span:.0f}"})
    return rows


def _ms(values: list[float], q: float) -> str:
    v = percentile(values, q)
    return "" if math.isnan(v) else f"{v:.1f}"


def extend_web_ui(web_ui: Any, sink: RecordSink, timeline: Timeline) -> None:
    from flask import Response, jsonify
    from flask import request as flask_request

    args = web_ui.template_args
    args["extended_tabs"] = [{"title": "LLM", "key": "llm"}]
    args["extended_tables"] = [{"key": "llm", "structure": TABLE_STRUCTURE}]
    args["extended_csv_files"] = [{"href": "./llm/history.csv", "title": "Download LLM history CSV"}]
    app = web_ui.app
    auth = web_ui.auth_required_if_enabled

    def history() -> Any:
        try:
            since = float(flask_request.args.get("since", "0"))
        except ValueError:
            since = 0.0
        return jsonify({"generation": timeline.generation,
                        "points": [asdict(p) for p in timeline.points_since(since)]})

    def history_csv() -> Response:
        return Response(points_csv(list(timeline.points)), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=llm_history.csv"})

    def charts_script() -> Response:
        return Response(_SCRIPT.read_text(), mimetype="text/javascript")

    app.add_url_rule("/llm/history", "llm_history", auth(history))
    app.add_url_rule("/llm/history.csv", "llm_history_csv", auth(history_csv))
    app.add_url_rule("/llm/charts.js", "llm_charts_js", charts_script)

    def extend(response: Any) -> Any:
        if response.status_code != 200:
            return response
        if flask_request.path == "/stats/requests":
            data = response.get_json(silent=True)
            if isinstance(data, dict):
                # the newest requests only: the UI polls every 2 s and a long run holds
                # far too many inter-token gaps to sort each time
                newest = islice(zip(sink.finished_at, sink.records, strict=True),
                                max(0, len(sink.records) - TABLE_WINDOW), None)
                rows = table_rows(newest, sink.started, time.monotonic())
                data["extended_stats"] = [{"key": "llm", "data": rows}]
                response.set_data(json.dumps(data))
        elif flask_request.path == "/" and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(page.replace("</body>", _SCRIPT_TAG + "</body>", 1))
        return response

    app.after_request(extend)
