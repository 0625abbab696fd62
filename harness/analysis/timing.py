"""Times measured from fault-journal timestamps: how long after a fault began
the traffic had moved away (fail over), and how long after it was rolled back
it had come home (recover).

"Moved" means sustained, as Gateway API conformance defines consistency by
consecutive successes: the first request from which `consecutive` requests in
a row (by start time) satisfy the condition."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from harness.analysis.frames import timed

__all__ = ["first_sustained", "time_to_last_failure", "time_to_shift"]


def first_sustained(records: pd.DataFrame, condition: Callable[[pd.DataFrame], pd.Series],
                    since: float, consecutive: int) -> float | None:
    """Start time of the first request at or after `since` that opens a run of
    `consecutive` requests all meeting `condition`; None if no such run."""
    frame = timed(records)
    frame = frame[frame["t"] >= since]
    if len(frame) < consecutive:
        return None
    good = np.asarray(condition(frame), dtype=np.int64)
    totals = np.concatenate(([0], np.cumsum(good)))
    # in_window[i]: how many of requests i .. i+consecutive-1 meet the condition
    in_window = totals[consecutive:] - totals[:-consecutive]
    hits = np.flatnonzero(in_window == consecutive)
    return float(frame["t"].iloc[hits[0]]) if hits.size else None


def time_to_shift(records: pd.DataFrame, since: float, column: str, wanted: Callable[[pd.Series], pd.Series],
                  consecutive: int = 10) -> float | None:
    """Seconds from `since` until requests succeed and are served where `wanted`
    says (on `column`, e.g. served_region) for `consecutive` requests in a row."""

    def condition(frame: pd.DataFrame) -> pd.Series:
        return frame["ok"].astype(bool) & wanted(frame[column].fillna(""))

    start = first_sustained(records, condition, since, consecutive)
    return None if start is None else max(0.0, start - since)


def time_to_last_failure(records: pd.DataFrame, since: float, window_s: float) -> float | None:
    """Time to detect a failing backend: seconds from `since` (the fault, from
    the journal) to the start of the last failed request that began within
    `window_s` after it; the mesh stopped sending to the failure after that.
    0 when nothing failed (detected before any request reached it); None
    when no request started in the window (nothing to tell from)."""
    frame = timed(records)
    frame = frame[(frame["t"] >= since) & (frame["t"] <= since + window_s)]
    if frame.empty:
        return None
    failed = frame[~frame["ok"].astype(bool)]
    return 0.0 if failed.empty else float(failed["t"].max() - since)
