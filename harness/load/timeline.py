"""The LLM figures over time, per user class and tier: what the web UI's LLM
tab charts and its CSV download hold. Pure: times are passed in.

Every `interval_s` the caller takes a sample: for each series (user class
and tier) the requests and failures per second, TTFT p50 / p95, ITL p50 / p99
and output tokens per second over the requests that finished in the last
`window_s` (Locust's own current figures use a 10 s window too).
"""

from __future__ import annotations

import csv
import io
import math
from collections import deque
from dataclasses import asdict, dataclass, fields

from harness.load.records import RequestRecord
from harness.stats import percentiles

__all__ = ["TimelinePoint", "Timeline", "series_name", "points_csv"]

WINDOW_S = 10.0
INTERVAL_S = 2.0
KEEP_POINTS = 20_000  # about 5 h of samples of 4 series


@dataclass(frozen=True)
class TimelinePoint:
    time: float  # wall clock, seconds since the epoch
    series: str  # "<user class> (<tier>)"
    requests_per_s: float
    failures_per_s: float
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    itl_p50_ms: float | None
    itl_p99_ms: float | None
    output_tokens_per_s: float


def series_name(record: RequestRecord) -> str:
    return f"{record.scenario} ({record.tier})"


def _ms(values: list[float], *qs: float) -> list[float | None]:
    """The percentiles in ms, rounded; one sort for all of them (a window holds
    tens of thousands of gaps, sampled every second)."""
    return [None if math.isnan(v) else round(v * 1000, 2) for v in percentiles(values, qs)]


class Timeline:
    """Recent requests (by finish time) and the samples taken so far."""

    def __init__(self, window_s: float = WINDOW_S, keep_points: int = KEEP_POINTS) -> None:
        self.window_s = window_s
        self._recent: deque[tuple[float, RequestRecord]] = deque()
        self._series: set[str] = set()
        self.points: deque[TimelinePoint] = deque(maxlen=keep_points)
        self.started: float | None = None  # wall clock of the first request since the last reset
        self.generation = 0  # counts resets, so a reader can tell its copy of `points` is stale

    def add(self, finished: float, record: RequestRecord) -> None:
        if self.started is None:
            self.started = finished - (record.e2e_s or 0.0)
        self._recent.append((finished, record))
        self._series.add(series_name(record))

    def reset(self) -> None:
        self._recent.clear()
        self._series.clear()
        self.points.clear()
        self.started = None
        self.generation += 1

    def points_since(self, t: float) -> list[TimelinePoint]:
        """The samples taken after wall-clock time `t` (all of them for 0)."""
        out: list[TimelinePoint] = []
        for p in reversed(self.points):
            if p.time <= t:
                break
            out.append(p)
        return out[::-1]

    def sample(self, now: float) -> list[TimelinePoint]:
        """One point per series seen since the last reset (zero rates for a
        series with no request in the window), appended to `points`."""
        while self._recent and self._recent[0][0] <= now - self.window_s:
            self._recent.popleft()
        if self.started is None:
            return []
        # a run younger than the window is measured over its age, as a rate must not start low
        span = max(1e-3, min(self.window_s, now - self.started))
        by_series: dict[str, list[RequestRecord]] = {name: [] for name in sorted(self._series)}
        for _, r in self._recent:
            by_series[series_name(r)].append(r)
        out = []
        for name, recs in by_series.items():
            ok = [r for r in recs if r.ok]
            ttft = [r.ttft_s for r in ok if r.ttft_s is not None]
            itl = [g for r in ok for g in r.itl_s]
            tokens = sum(r.output_tokens or 0 for r in ok)
            ttft_p50, ttft_p95 = _ms(ttft, 0.5, 0.95)
            itl_p50, itl_p99 = _ms(itl, 0.5, 0.99)
            out.append(TimelinePoint(
                time=round(now, 3), series=name, requests_per_s=round(len(recs) / span, 3),
                failures_per_s=round((len(recs) - len(ok)) / span, 3), ttft_p50_ms=ttft_p50,
                ttft_p95_ms=ttft_p95, itl_p50_ms=itl_p50, itl_p99_ms=itl_p99,
                output_tokens_per_s=round(tokens / span, 1)))
        self.points.extend(out)
        return out


def points_csv(points: list[TimelinePoint]) -> str:
    """The samples as CSV, one row per time and series (empty cells: no data)."""
    buf = io.StringIO()
    names = [f.name for f in fields(TimelinePoint)]
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for p in points:
        writer.writerow({k: "" if v is None else v for k, v in asdict(p).items()})
    return buf.getvalue()
