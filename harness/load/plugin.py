"""What every locustfile using `harness.load` gets, through Locust's event
hooks: a RequestRecord sink (`--records FILE`, JSON lines), CI thresholds
that set the exit code, the LLM figures over time (`<csv prefix>_llm_history.csv`
with `--csv`) and an "LLM" tab in the web UI (`harness.load.llm_tab`).

Imported by `harness.load.users`, so a plain `locust -f profile.py` has it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

import gevent
from locust import events
from locust import stats as locust_stats
from locust.runners import STATE_RUNNING, STATE_SPAWNING

from harness.load.records import RequestRecord
from harness.load.thresholds import Thresholds, evaluate, threshold_flags
from harness.load.timeline import INTERVAL_S, Timeline, points_csv

__all__ = ["RecordSink", "SINK", "TIMELINE", "log_token_timings", "log_many"]

log = logging.getLogger("harness.load")
THRESHOLD_EXIT_CODE = 3


class RecordSink:
    """Collects records in memory (for the UI and thresholds) and, when asked,
    appends them to a JSON-lines file as they finish (written out every
    INTERVAL_S and at the end, not per request: a write per request was a
    system call per request on the load generator)."""

    def __init__(self, keep: int = 200_000) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=keep)
        self.finished_at: deque[float] = deque(maxlen=keep)
        self.started = time.monotonic()
        self._file: IO[str] | None = None

    def open(self, path: str | None) -> None:
        if path:
            self._file = open(path, "a", buffering=1 << 16)

    def add(self, record: RequestRecord) -> None:
        self.records.append(record)
        self.finished_at.append(time.monotonic())
        if self._file is not None:
            self._file.write(record.to_json() + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def reset(self) -> None:
        self.records.clear()
        self.finished_at.clear()
        self.started = time.monotonic()


SINK = RecordSink()
TIMELINE = Timeline()


def log_token_timings(stats: Any, name: str, rec: RequestRecord, itl_rows: str = "each") -> None:
    """A successful request's TTFT, TPOT and inter-token gaps as Locust rows of
    their own (`TTFT` / `TPOT` / `ITL` <name>), logged on those rows only.

    They do not go through Locust's request event, which would also count each
    one in the totals: a 64-token stream would then be 65 "requests", and the
    header RPS, failure ratio, Aggregated row, charts and CSV history would
    describe token gaps. Locust's own `RequestStats.log_request` is exactly
    "total, then row"; this is the row part."""
    if rec.ttft_s is not None:
        stats.get(name, "TTFT").log(rec.ttft_s * 1000, 0)
    if rec.tpot_s is not None:
        stats.get(name, "TPOT").log(rec.tpot_s * 1000, 0)
    if itl_rows == "each":
        if rec.itl_s:
            log_many(stats.get(name, "ITL"), [gap * 1000 for gap in rec.itl_s])
    elif itl_rows == "mean" and rec.itl_s:
        stats.get(name, "ITL").log(1000 * sum(rec.itl_s) / len(rec.itl_s), 0)


def log_many(entry: Any, response_times_ms: list[float]) -> None:
    """What `entry.log(t, 0)` for each time does, in one pass (a stream's
    token gaps, logged at once: one request's worth of Locust bookkeeping per
    stream instead of one per token on the load generator). The first goes
    through Locust's own `log` (time of request, per-second counts, the
    response-times cache); the rest update the same public fields it does."""
    entry.log(response_times_ms[0], 0)
    rest = response_times_ms[1:]
    if not rest:
        return
    entry.num_requests += len(rest)
    entry.num_reqs_per_sec[int(entry.last_request_timestamp)] += len(rest)
    entry.total_response_time += sum(rest)
    low = min(rest)
    entry.min_response_time = low if entry.min_response_time is None else min(entry.min_response_time, low)
    entry.max_response_time = max(entry.max_response_time, max(rest))
    counts, bucket = entry.response_times, locust_stats.bucket_response_time  # replaceable, as Locust documents
    for ms in rest:
        counts[bucket(ms)] += 1


def _options(parser: Any, **_: Any) -> None:
    group = parser.add_argument_group("harness LLM load")
    group.add_argument("--records", default="", help="append one JSON RequestRecord per request to this file")
    for f in threshold_flags():
        group.add_argument(f.flag, dest=f.name, type=float, default=None, help=f.help)


def _thresholds(options: Any) -> Thresholds:
    limits: dict[str, Any] = {f.name: getattr(options, f.name, None) for f in threshold_flags()}
    return Thresholds(**limits)


def _init(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    SINK.open(getattr(options, "records", "") if options else "")
    gevent.spawn(_sample_timeline, environment)
    if environment.web_ui is not None:
        from harness.load.llm_tab import extend_web_ui

        extend_web_ui(environment.web_ui, SINK, TIMELINE)


def _sample_timeline(environment: Any) -> None:
    """Every INTERVAL_S while users run, as Locust's own charts do."""
    while True:
        gevent.sleep(INTERVAL_S)
        SINK.flush()
        if environment.runner is not None and environment.runner.state in (STATE_SPAWNING, STATE_RUNNING):
            TIMELINE.sample(time.time())


def _on_request(context: dict[str, Any] | None = None, **_: Any) -> None:
    record = (context or {}).get("record")
    if isinstance(record, RequestRecord):
        SINK.add(record)
        TIMELINE.add(time.time(), record)


def _on_reset() -> None:
    SINK.reset()
    TIMELINE.reset()


def _on_quitting(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    try:
        prefix = getattr(options, "csv_prefix", None) if options else None
        if prefix:
            TIMELINE.sample(time.time())
            Path(f"{prefix}_llm_history.csv").write_text(points_csv(list(TIMELINE.points)))
        thresholds = _thresholds(options) if options else Thresholds()
        if thresholds.any:
            duration = time.monotonic() - SINK.started
            results = evaluate(SINK.records, thresholds, duration)
            failed = [r for r in results if not r.passed]
            for r in results:
                log.info("threshold %s", r)
            if failed:
                print("LLM thresholds missed:\n  " + "\n  ".join(str(r) for r in failed), flush=True)
                environment.process_exit_code = THRESHOLD_EXIT_CODE
            else:
                print("LLM thresholds met: " + "; ".join(str(r) for r in results), flush=True)
    finally:
        SINK.close()


_hooks: Any = events  # Locust's event hooks are untyped
_hooks.init_command_line_parser.add_listener(_options)
_hooks.init.add_listener(_init)
_hooks.request.add_listener(_on_request)
_hooks.reset_stats.add_listener(_on_reset)
_hooks.quitting.add_listener(_on_quitting)
