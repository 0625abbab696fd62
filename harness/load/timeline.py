"""The LLM figures over time, per user class and tier: what the web UI's LLM
tab charts and its CSV download hold. Pure: times are passed in.

Every `interval_s` the caller takes a sample: for each series (user class
and tier) the requests and failures per second, TTFT p50 / p95, ITL p50 / p99
and output tokens per second over the requests that finished in the last
`window_s` (Locust's own current figures use a 10 s window too).

A sample runs on the load generator's event loop, between requests, so it
must be short at any rate. Requests are therefore gathered, as they finish,
into slots of SLOT_S by finish time (the window's edge moves by whole slots:
a request up to SLOT_S older than the window may still count), and each
percentile is taken over at most MAX_VALUES values of the window, every k-th
(k coprime with every stream length seen, so no position in a stream is
favoured). A whole window at 1,500 requests/s is 135,000 token gaps: sorting
them, and a Python pass over 15,000 records, took over 30 ms, long enough to
show in the TTFT of every request in flight.
"""

from __future__ import annotations

import csv
import io
import math
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from itertools import chain

from harness.load.records import RequestRecord
from harness.stats import percentiles

__all__ = ["TimelinePoint", "Timeline", "series_name", "points_csv", "stride", "MAX_VALUES", "SLOT_S"]

WINDOW_S = 10.0
INTERVAL_S = 2.0
KEEP_POINTS = 20_000  # about 5 h of samples of 4 series
MAX_VALUES = 10_000  # per percentile and sample: a sort of about 2 ms
SLOT_S = 0.1


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


def stride(total: int, lengths: set[int], cap: int = MAX_VALUES) -> int:
    """The step that keeps at most `cap` of `total` values: the smallest
    integer >= total / cap that shares no factor with any stream length in
    `lengths` (values taken every k-th across streams of k gaps would all be
    their first gap)."""
    k = max(1, -(-total // cap))
    while k > 1 and any(math.gcd(k, n) != 1 for n in lengths if n):
        k += 1
    return k


@dataclass
class _Slot:
    """The requests of one series that finished in one SLOT_S."""

    index: int
    requests: int = 0
    failures: int = 0
    tokens: int = 0
    ttft: list[float] = field(default_factory=list)
    itl: list[float] = field(default_factory=list)
    lengths: set[int] = field(default_factory=set)


def _ms(values: list[float], *qs: float) -> list[float | None]:
    """The percentiles in ms, rounded; one sort for all of them."""
    return [None if math.isnan(v) else round(v * 1000, 2) for v in percentiles(values, qs)]


class Timeline:
    """Recent requests (by finish time, in slots per series) and the samples taken so far."""

    def __init__(self, window_s: float = WINDOW_S, keep_points: int = KEEP_POINTS) -> None:
        self.window_s = window_s
        self._slots: dict[str, deque[_Slot]] = {}
        self.points: deque[TimelinePoint] = deque(maxlen=keep_points)
        self.started: float | None = None  # wall clock of the first request since the last reset
        self.generation = 0  # counts resets, so a reader can tell its copy of `points` is stale

    def add(self, finished: float, record: RequestRecord) -> None:
        if self.started is None:
            self.started = finished - (record.e2e_s or 0.0)
        slots = self._slots.get(series_name(record))
        if slots is None:
            slots = self._slots[series_name(record)] = deque()
        index = math.floor(finished / SLOT_S)
        if not slots or slots[-1].index != index:
            slots.append(_Slot(index))
        slot = slots[-1]
        slot.requests += 1
        if record.ok:
            slot.tokens += record.output_tokens or 0
            if record.ttft_s is not None:
                slot.ttft.append(record.ttft_s)
            if record.itl_s:
                slot.itl.extend(record.itl_s)
                slot.lengths.add(len(record.itl_s))
        else:
            slot.failures += 1

    def reset(self) -> None:
        self._slots.clear()
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
        if self.started is None:
            return []
        # a slot counts while any of it is inside the window
        oldest = math.floor((now - self.window_s) / SLOT_S)
        # a run younger than the window is measured over its age, as a rate must not start low
        span = max(1e-3, min(self.window_s, now - self.started))
        out = []
        for name in sorted(self._slots):
            slots = self._slots[name]
            while slots and slots[0].index < oldest:
                slots.popleft()
            requests = sum(s.requests for s in slots)
            failures = sum(s.failures for s in slots)
            tokens = sum(s.tokens for s in slots)
            ttft = list(chain.from_iterable(s.ttft for s in slots))
            itl = list(chain.from_iterable(s.itl for s in slots))
            ttft_p50, ttft_p95 = _ms(ttft[::stride(len(ttft), set())], 0.5, 0.95)
            itl_p50, itl_p99 = _ms(itl[::stride(len(itl), set().union(*(s.lengths for s in slots)))], 0.5, 0.99)
            out.append(TimelinePoint(
                time=round(now, 3), series=name, requests_per_s=round(requests / span, 3),
                failures_per_s=round(failures / span, 3), ttft_p50_ms=ttft_p50,
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
