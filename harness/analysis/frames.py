"""Windowed figures over a DataFrame of RequestRecords (the columns of
`harness.load.records.RECORD_COLUMNS`). Vectorised: a million records take a
fraction of a second."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["timed", "availability", "percentile_ms", "windowed"]


def timed(records: pd.DataFrame) -> pd.DataFrame:
    """The records with `t` (start, epoch seconds), sorted by it."""
    if "t" in records.columns:
        return records
    out = records.copy()
    if out.empty:
        out["t"] = pd.Series(dtype=float)
        return out
    stamps = pd.to_datetime(out["start"], utc=True, format="ISO8601")
    out["t"] = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return out.sort_values("t", kind="stable").reset_index(drop=True)


def availability(records: pd.DataFrame) -> float:
    """Share of requests answered successfully (NaN for none)."""
    if records.empty:
        return float("nan")
    return float(records["ok"].astype(bool).mean())


def percentile_ms(values: pd.Series | np.ndarray, q: float) -> float:
    """Nearest-rank percentile in milliseconds of a series of seconds, the same
    definition as `harness.stats.percentile`; NaN when there is nothing."""
    arr = np.array(pd.Series(values).dropna(), dtype=float)
    if arr.size == 0:
        return float("nan")
    arr.sort()
    rank = int(np.ceil(round(q * arr.size, 9))) - 1
    return float(arr[max(0, min(arr.size - 1, rank))] * 1000.0)


def windowed(records: pd.DataFrame, width_s: float,
             figure: Callable[[pd.DataFrame], float] = availability) -> pd.DataFrame:
    """`figure` per window of `width_s` seconds: columns window_start, n, value."""
    frame = timed(records)
    if frame.empty:
        return pd.DataFrame({"window_start": [], "n": [], "value": []})
    origin = float(frame["t"].iloc[0])
    bins = ((frame["t"] - origin) // width_s).astype(int)
    rows = [(origin + int(b) * width_s, len(g), figure(g)) for b, g in frame.groupby(bins, sort=True)]
    return pd.DataFrame(rows, columns=["window_start", "n", "value"])
