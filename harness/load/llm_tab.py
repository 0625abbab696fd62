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
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.load.timeline import points_csv

if TYPE_CHECKING:
    from harness.load.plugin import RecordSink
    from harness.load.timeline import Timeline

__all__ = ["extend_web_ui", "TABLE_STRUCTURE"]

_SCRIPT = Path(__file__).parent / "static" / "llm_charts.js"
_SCRIPT_TAG = '<script src="./llm/charts.js"></script>'

TABLE_STRUCTURE = [
    {"key": "name", "title": "Name"}, {"key": "requests", "title": "Requests (last 5,000)"},
    {"key": "failures", "title": "Failures"}, {"key": "ttft_p50", "title": "TTFT p50 (ms)"},
    {"key": "ttft_p95", "title": "TTFT p95 (ms)"}, {"key": "ttft_p99", "title": "TTFT p99 (ms)"},
    {"key": "itl_p50", "title": "ITL p50 (ms)"}, {"key": "itl_p99", "title": "ITL p99 (ms)"},
    {"key": "tokens_per_s", "title": "Output tokens/s (10 s)"}]


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
                data["extended_stats"] = [{"key": "llm", "data": sink.ui_rows()}]
                response.set_data(json.dumps(data))
        elif flask_request.path == "/" and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(page.replace("</body>", _SCRIPT_TAG + "</body>", 1))
        return response

    app.after_request(extend)
