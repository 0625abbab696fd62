"""Who served the traffic, overall and over time (region, subset, model, pod),
and how a degraded request degraded (fallback model, shed, error)."""

from __future__ import annotations

import pandas as pd

from harness.analysis.frames import timed

__all__ = ["shares", "shares_over_time", "degradation"]


def shares(records: pd.DataFrame, column: str, successful_only: bool = True) -> dict[str, float]:
    """Share of (successful) requests per value of `column` (missing values as "")."""
    frame = records[records["ok"].astype(bool)] if successful_only else records
    if frame.empty:
        return {}
    counts = frame[column].fillna("").astype(str).value_counts()
    return {str(k): float(v) / len(frame) for k, v in counts.items()}


def shares_over_time(records: pd.DataFrame, column: str, width_s: float) -> pd.DataFrame:
    """Per window of `width_s` seconds, the share of successful requests per value of `column`."""
    frame = timed(records)
    frame = frame[frame["ok"].astype(bool)]
    if frame.empty:
        return pd.DataFrame()
    origin = float(frame["t"].iloc[0])
    window = origin + ((frame["t"] - origin) // width_s) * width_s
    table = pd.crosstab(window, frame[column].fillna("").astype(str), normalize="index")
    table.index.name = "window_start"
    return table


def degradation(records: pd.DataFrame, requested_model_served: str = "model_requested") -> dict[str, float]:
    """Shares of: served by the requested model, by a fallback model, shed
    (429/503 before any token), other errors."""
    n = len(records)
    if n == 0:
        return {}
    ok = records["ok"].astype(bool)
    same = ok & (records["served_model"].fillna("") == records[requested_model_served].fillna(""))
    status = records["status"].fillna(0)
    shed = ~ok & status.isin([429, 503])
    return {"requested_model": float(same.sum()) / n, "fallback_model": float((ok & ~same).sum()) / n,
            "shed": float(shed.sum()) / n, "error": float((~ok & ~shed).sum()) / n}
