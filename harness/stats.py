"""Percentiles, the one definition every figure in the project uses. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["percentile"]


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    s = sorted(values)
    if not s:
        return math.nan
    # round first: 0.07 * 100 is 7.000000000000001 in floats, which must not become rank 8
    return s[max(0, min(len(s) - 1, math.ceil(round(q * len(s), 9)) - 1))]
