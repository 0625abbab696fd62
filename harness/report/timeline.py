"""A requirement's run over time, as a person reads it next to its SLO: per
window the success rate, TTFT p95 and who served the traffic (region, subset,
model); the ready replicas; the fault windows from the journal; and when the
traffic failed over and recovered. Pure: the caller reads the records, the
journal entries and the replica samples.

Times in the timeline are seconds from `origin` (epoch seconds), so a plot
and a reader share one axis: "fault at 6.1 s, failed over at 8.0 s".

Time to fail over and time to recover are measured the same way for every
fault, from the records, with the sustained-run rule of `harness.analysis`
(`CONSECUTIVE` requests in a row):
- fail over: from the fault's start until requests succeed again, served
  away from what the fault took out (the pods it killed or faulted, the
  region it took down; journal `params`);
- recover: for a fault on pods whose ready replicas dipped, from the fault's
  start until they are back to their count before the fault (a killed pod is
  back); for a region taken down, or when no replica dipped, from the
  rollback's start until requests succeed again in the region that served
  them before the fault (failed back).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.frames import availability, percentile_ms, timed
from harness.analysis.timing import first_sustained

__all__ = ["FaultWindow", "fault_windows", "build_timeline", "window_width", "CONSECUTIVE", "SHARE_COLUMNS",
           "TIMELINE_VERSION"]

TIMELINE_VERSION = 1
CONSECUTIVE = 10
# dimension shown in the traffic-share plots -> record column
SHARE_COLUMNS = {"region": "served_region", "subset": "served_subset", "model": "served_model"}


@dataclass(frozen=True)
class FaultWindow:
    """One injected fault, in epoch seconds; None where the journal has no mark."""

    action: str
    target: str  # a short "where": selector or region the fault hit
    start: float
    confirmed: float | None
    undo: float | None
    end: float | None
    state: str
    hit: dict[str, list[str]]  # dimension -> what the fault took out (pod: [names], region: [us-east])


def _where(params: dict[str, Any]) -> tuple[str, dict[str, list[str]]]:
    """A short "where" and what the fault took out: the pods it killed or
    faulted (`pods`), or the region it took down (`region`)."""
    hit: dict[str, list[str]] = {}
    if isinstance(params.get("pods"), list) and params["pods"]:
        hit["pod"] = [str(p) for p in params["pods"]]
    elif isinstance(params.get("region"), str):
        hit["region"] = [params["region"]]
    selector = str(params.get("selector") or "")
    shown = ", ".join(f"{k} {'/'.join(v)}" for k, v in hit.items())
    return (f"{selector} ({shown})" if selector and shown else selector or shown), hit


def fault_windows(entries: Sequence[dict[str, Any]]) -> list[FaultWindow]:
    """Fault windows from fault-journal entries (as dicts, each in its latest
    state); dry runs and actions that never injected anything are left out."""
    out = []
    for e in entries:
        if e.get("state") in ("dry_run", "planned"):
            continue
        start = e.get("started_at") or e.get("created")
        if start is None:
            continue
        shown, hit = _where(dict(e.get("params") or {}))
        out.append(FaultWindow(str(e.get("action", "fault")), shown, float(start), e.get("confirmed_at"),
                               e.get("undo_started_at"), e.get("ended_at"), str(e.get("state", "")), hit))
    return sorted(out, key=lambda f: f.start)


def window_width(span_s: float, windows: int = 40) -> float:
    """About `windows` windows over the run, in half seconds, at least 0.5 s."""
    return max(0.5, math.ceil(span_s / windows * 2) / 2)


def _ttft_p95(frame: pd.DataFrame) -> float:
    ok = frame[frame["ok"].astype(bool)]
    return percentile_ms(pd.to_numeric(ok["ttft_s"], errors="coerce"), 0.95) if len(ok) else float("nan")


def _clean(values: Sequence[float] | np.ndarray) -> list[float | None]:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 6) for v in values]


def _dominant(frame: pd.DataFrame, column: str) -> str | None:
    values = frame[frame["ok"].astype(bool)][column].dropna().astype(str)
    values = values[values != ""]
    return str(values.value_counts().index[0]) if len(values) else None


def _failover(frame: pd.DataFrame, fault: FaultWindow) -> float | None:
    away = {f"served_{k}": v for k, v in fault.hit.items() if f"served_{k}" in frame.columns}

    def condition(f: pd.DataFrame) -> pd.Series:
        good = f["ok"].astype(bool)
        for column, values in away.items():
            good &= ~f[column].fillna("").astype(str).isin(values)
        return good

    at = first_sustained(frame, condition, fault.start, CONSECUTIVE)
    return None if at is None else max(0.0, at - fault.start)


def _replicas_total(replicas: dict[str, list[tuple[float, float]]]) -> pd.Series:
    if not replicas:
        return pd.Series(dtype=float)
    series = [pd.Series({t: v for t, v in points}, dtype=float) for points in replicas.values() if points]
    if not series:
        return pd.Series(dtype=float)
    return pd.concat(series, axis=1).sort_index().ffill().sum(axis=1)


def _recover(frame: pd.DataFrame, fault: FaultWindow, total: pd.Series, before: pd.DataFrame
             ) -> tuple[float | None, str]:
    """(seconds, measured from "fault" or "rollback")."""
    if len(total) and "region" not in fault.hit:  # a region is back when its traffic is, not its pods
        prior = total[total.index < fault.start]
        after = total[total.index >= fault.start]
        if len(prior) and len(after) and after.min() < prior.iloc[-1]:
            dipped_at = after.idxmin()
            back = after[(after.index > dipped_at) & (after >= prior.iloc[-1])]
            return (float(back.index[0] - fault.start) if len(back) else None), "fault"
    since = fault.undo if fault.undo is not None else fault.end
    if since is None or not len(frame):
        return None, "rollback"
    home = {c: _dominant(before, c) for c in ("served_region",) if c in before.columns}
    home = {c: v for c, v in home.items() if v}

    def condition(f: pd.DataFrame) -> pd.Series:
        good = f["ok"].astype(bool)
        for column, value in home.items():
            good &= f[column].fillna("").astype(str) == value
        return good

    at = first_sustained(frame, condition, since, CONSECUTIVE)
    return (None if at is None else max(0.0, at - since)), "rollback"


def build_timeline(records: pd.DataFrame, faults: Sequence[FaultWindow],
                   replicas: dict[str, list[tuple[float, float]]] | None = None,
                   slo: dict[str, float] | None = None, width_s: float | None = None) -> dict[str, Any]:
    """The JSON-ready timeline of one requirement's run (see the module doc).
    `replicas`: ready replicas per deployment as (epoch seconds, count) samples;
    `slo`: the lines to draw (`availability` ratio, `ttft_p95_ms`)."""
    frame = timed(records)
    replicas = replicas or {}
    starts = list(frame["t"]) if len(frame) else []
    origin = min([*starts, *(f.start for f in faults)], default=0.0)
    last = max([*starts, *(f.end or f.undo or f.start for f in faults)], default=origin)
    width = width_s or window_width(last - origin)
    out: dict[str, Any] = {"version": TIMELINE_VERSION, "origin": origin, "width_s": width, "slo": dict(slo or {})}
    if len(frame):
        bins = ((frame["t"] - origin) // width).astype(int)
        groups = list(frame.groupby(bins, sort=True))
        out["windows"] = [round(int(b) * width, 3) for b, _ in groups]
        out["n"] = [len(g) for _, g in groups]
        out["success_rate"] = _clean([availability(g) for _, g in groups])
        out["ttft_p95_ms"] = _clean([_ttft_p95(g) for _, g in groups])
        ok = frame[frame["ok"].astype(bool)]
        ok_bins = bins[ok.index]
        answered = ok_bins.value_counts()
        shares: dict[str, dict[str, list[float | None]]] = {}
        for name, column in SHARE_COLUMNS.items():
            if column not in frame.columns or not ok[column].notna().any():
                continue
            table = pd.crosstab(ok_bins, ok[column].fillna("(none)").astype(str), normalize="index")
            table = table.reindex([b for b, _ in groups])
            shares[name] = {str(value): [None if int(answered.get(b, 0)) == 0 else round(float(table.at[b, value]), 6)
                                         for b, _ in groups] for value in sorted(table.columns)}
        out["shares"] = shares
    else:
        out.update(windows=[], n=[], success_rate=[], ttft_p95_ms=[], shares={})
    out["replicas"] = {name: [[round(t - origin, 3), v] for t, v in points] for name, points in sorted(replicas.items())}
    total = _replicas_total(replicas)
    before = frame[frame["t"] < faults[0].start] if faults and len(frame) else frame.iloc[0:0]
    fault_rows = []
    for f in faults:
        failover = _failover(frame, f) if len(frame) else None
        recover, recover_from = _recover(frame, f, total, before)
        row = {k: (round(v - origin, 3) if isinstance(v, float) and k in ("start", "confirmed", "undo", "end")
                   else v) for k, v in asdict(f).items()}
        # where the marks go on the time axis (seconds since origin)
        recover_base = row["start"] if recover_from == "fault" else (row["undo"] if row["undo"] is not None
                                                                     else row["end"])
        fault_rows.append({**row, "time_to_failover_s": _round(failover), "time_to_recover_s": _round(recover),
                           "recover_from": recover_from,
                           "failed_over_at": None if failover is None else round(row["start"] + failover, 3),
                           "recovered_at": None if recover is None else round(recover_base + recover, 3)})
    out["faults"] = fault_rows
    out["figures"] = {
        "requests": int(len(frame)),
        "availability": _round(availability(frame)) if len(frame) else None,
        "ttft_p95_ms": _round(_ttft_p95(frame)) if len(frame) else None,
        "time_to_failover_s": _worst(r["time_to_failover_s"] for r in fault_rows),
        "time_to_recover_s": _worst(r["time_to_recover_s"] for r in fault_rows),
    }
    return out


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 3)


def _worst(values: Any) -> float | None:
    found = [v for v in values if v is not None]
    return max(found) if found else None
