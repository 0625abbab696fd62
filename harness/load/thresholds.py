"""CI pass/fail thresholds over a run's records. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from harness.load.records import RequestRecord
from harness.stats import percentile

__all__ = ["Thresholds", "ThresholdResult", "evaluate", "summarize"]


@dataclass(frozen=True)
class Thresholds:
    max_error_rate: float | None = None  # 0..1
    max_ttft_p95_ms: float | None = None
    max_ttft_p99_ms: float | None = None
    max_itl_p99_ms: float | None = None
    max_e2e_p95_ms: float | None = None
    min_output_tokens_per_s: float | None = None
    min_requests: int = 1  # fewer finished requests than this fails the run: nothing was measured

    @property
    def any(self) -> bool:
        return any(v is not None for k, v in self.__dict__.items() if k != "min_requests")


@dataclass(frozen=True)
class ThresholdResult:
    name: str
    observed: float
    limit: float
    passed: bool

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        return f"{verdict}: {self.name} = {self.observed:.4g} (limit {self.limit:g})"


def summarize(records: Iterable[RequestRecord], duration_s: float | None = None) -> dict[str, float]:
    recs = list(records)
    ok = [r for r in recs if r.ok]
    ttft = [r.ttft_s * 1000 for r in ok if r.ttft_s is not None]
    itl = [g * 1000 for r in ok for g in r.itl_s]
    e2e = [r.e2e_s * 1000 for r in ok if r.e2e_s is not None]
    tokens = sum(r.output_tokens or 0 for r in ok)
    return {
        "requests": float(len(recs)), "failures": float(len(recs) - len(ok)),
        "error_rate": (len(recs) - len(ok)) / len(recs) if recs else math.nan,
        "ttft_p50_ms": percentile(ttft, 0.5), "ttft_p95_ms": percentile(ttft, 0.95),
        "ttft_p99_ms": percentile(ttft, 0.99), "itl_p50_ms": percentile(itl, 0.5),
        "itl_p99_ms": percentile(itl, 0.99), "e2e_p95_ms": percentile(e2e, 0.95),
        "output_tokens": float(tokens),
        "output_tokens_per_s": tokens / duration_s if duration_s else math.nan,
    }


def evaluate(records: Iterable[RequestRecord], t: Thresholds, duration_s: float | None = None) -> list[ThresholdResult]:
    """Every configured threshold with its observed value. A missing value
    (no successful request) fails the threshold: nothing measured is no pass."""
    recs = list(records)
    s = summarize(recs, duration_s)
    out = [ThresholdResult("requests", s["requests"], t.min_requests, s["requests"] >= t.min_requests)]
    checks = [("error_rate", t.max_error_rate, True), ("ttft_p95_ms", t.max_ttft_p95_ms, True),
              ("ttft_p99_ms", t.max_ttft_p99_ms, True), ("itl_p99_ms", t.max_itl_p99_ms, True),
              ("e2e_p95_ms", t.max_e2e_p95_ms, True), ("output_tokens_per_s", t.min_output_tokens_per_s, False)]
    for name, limit, is_max in checks:
        if limit is None:
            continue
        v = s[name]
        passed = not math.isnan(v) and (v <= limit if is_max else v >= limit)
        out.append(ThresholdResult(name, v, limit, passed))
    return out
