"""CI pass/fail thresholds over a run's records. Pure.

`Thresholds` is the one declaration: every limit is a field whose name says
its bound (`max_` / `min_`) and the summary figure it limits; the command-line
flags of `harness load` and of stock `locust` are derived from these fields
(`threshold_flags()`), so a limit is added here and nowhere else."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from harness.load.records import RequestRecord
from harness.stats import percentile

__all__ = ["Thresholds", "ThresholdResult", "ThresholdFlag", "threshold_flags", "evaluate", "summarize"]


def _limit(help: str) -> Any:
    return field(default=None, metadata={"help": help})


@dataclass(frozen=True)
class Thresholds:
    max_error_rate: float | None = _limit("fail the run above this share of failed requests (0..1)")
    max_ttft_p95_ms: float | None = _limit("fail the run above this p95 time to first token (ms)")
    max_ttft_p99_ms: float | None = _limit("fail the run above this p99 time to first token (ms)")
    max_itl_p99_ms: float | None = _limit("fail the run above this p99 inter-token gap (ms)")
    max_e2e_p95_ms: float | None = _limit("fail the run above this p95 end-to-end latency (ms)")
    min_output_tokens_per_s: float | None = _limit("fail the run below this output token rate (tokens/s)")
    min_requests: int = 1  # fewer finished requests than this fails the run: nothing was measured

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) is not None for f in threshold_flags())

    def as_args(self) -> list[str]:
        """The set limits as command-line arguments (`--max-ttft-p95-ms 800`)."""
        args: list[str] = []
        for f in threshold_flags():
            value = getattr(self, f.name)
            if value is not None:
                args += [f.flag, str(value)]
        return args


@dataclass(frozen=True)
class ThresholdFlag:
    name: str  # the Thresholds field
    flag: str  # --max-ttft-p95-ms
    help: str
    figure: str  # the summarize() key it limits
    is_max: bool


def threshold_flags() -> list[ThresholdFlag]:
    """One command-line flag per limit of `Thresholds`, in declaration order."""
    out = []
    for f in fields(Thresholds):
        if "help" not in f.metadata:
            continue
        bound, _, figure = f.name.partition("_")
        out.append(ThresholdFlag(f.name, "--" + f.name.replace("_", "-"), f.metadata["help"], figure,
                                 bound == "max"))
    return out


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
    for f in threshold_flags():
        limit = getattr(t, f.name)
        if limit is None:
            continue
        v = s[f.figure]
        passed = not math.isnan(v) and (v <= limit if f.is_max else v >= limit)
        out.append(ThresholdResult(f.figure, v, limit, passed))
    return out
