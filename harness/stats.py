"""Percentiles, the one definition every figure in the project uses. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["percentile", "percentiles"]


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    return percentiles(values, (q,))[0]


def percentiles(values: Iterable[float], qs: Iterable[float]) -> list[float]:
    """Nearest-rank percentiles for each q of `qs` (in 0..1), with one sort; NaN for no values."""
    s = sorted(values)
    if not s:
        return [math.nan for _ in qs]
    n = len(s)
    # round first: 0.07 * 100 is 7.000000000000001 in floats, which must not become rank 8
    return [s[max(0, min(n - 1, math.ceil(round(q * n, 9)) - 1))] for q in qs]
