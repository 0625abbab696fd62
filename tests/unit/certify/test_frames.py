import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from harness.analysis.attribution import degradation, shares, shares_over_time
from harness.analysis.frames import availability, percentile_ms, timed, windowed
from harness.analysis.timing import first_sustained, time_to_last_failure, time_to_shift
from harness.load.records import records_frame
from harness.stats import percentile

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def frame(rows: list[dict]) -> pd.DataFrame:
    base = {"scenario": "s", "api": "chat", "stream": False, "model_requested": "m", "tier": "standard"}
    return records_frame([{**base, **r} for r in rows])


def at(s: float) -> str:
    return (T0 + timedelta(seconds=s)).isoformat(timespec="milliseconds")


def test_timed_adds_epoch_seconds_sorted() -> None:
    df = timed(frame([{"start": at(2), "ok": True}, {"start": at(1), "ok": False}]))
    assert list(df["t"] - T0.timestamp()) == [1.0, 2.0]


def test_availability_and_nan_without_data() -> None:
    assert availability(frame([{"start": at(0), "ok": True}, {"start": at(1), "ok": False}])) == 0.5
    assert np.isnan(availability(frame([])))


def test_percentile_is_the_projects_nearest_rank() -> None:
    values = [0.001 * i for i in range(1, 101)] + [None]
    for q in (0.5, 0.95, 0.99, 0.07):
        assert percentile_ms(pd.Series(values), q) == pytest.approx(percentile([v for v in values if v], q) * 1000)
    assert np.isnan(percentile_ms(pd.Series([None]), 0.5))


def test_windowed_availability() -> None:
    rows = [{"start": at(i * 0.5), "ok": i < 4} for i in range(8)]  # 4 s: first 2 s ok, then errors
    w = windowed(frame(rows), 2.0)
    assert list(w["n"]) == [4, 4] and list(w["value"]) == [1.0, 0.0]


def test_time_to_shift_needs_a_sustained_run() -> None:
    # fault at t=10: a flap to us-west at 11, back east at 12, then west from 13 on
    regions = {i: "us-east" for i in range(0, 11)} | {11: "us-west", 12: "us-east"} | {i: "us-west" for i in range(13, 40)}
    rows = [{"start": at(t), "ok": True, "served_region": r} for t, r in regions.items()]
    df = frame(rows)
    since = T0.timestamp() + 10
    assert time_to_shift(df, since, "served_region", lambda s: s == "us-west", consecutive=5) == pytest.approx(3.0)
    assert time_to_shift(df, since, "served_region", lambda s: s == "eu-west", consecutive=5) is None
    assert first_sustained(df, lambda f: f["ok"], since + 100, 3) is None


def test_failed_requests_do_not_count_as_moved() -> None:
    rows = [{"start": at(t), "ok": t >= 5, "served_region": "us-west"} for t in range(20)]
    assert time_to_shift(frame(rows), T0.timestamp(), "served_region", lambda s: s == "us-west", 3) == 5.0


def test_time_to_detect_is_the_last_failure_in_the_window_after_the_fault() -> None:
    # fault at t=10; failures at 9 (before), 11, 12.5 and 30 (after the window of 10 s)
    rows = [{"start": at(t), "ok": t not in (9, 11, 12.5, 30)} for t in [*range(0, 40), 12.5]]
    since = T0.timestamp() + 10
    assert time_to_last_failure(frame(rows), since, window_s=10.0) == pytest.approx(2.5)
    all_ok = [{"start": at(t), "ok": True} for t in range(20)]
    assert time_to_last_failure(frame(all_ok), since, window_s=5.0) == 0.0
    assert time_to_last_failure(frame(all_ok), since + 100, window_s=5.0) is None


def test_shares_and_shares_over_time() -> None:
    rows = [{"start": at(t), "ok": True, "served_version": "v1" if t % 5 else "v2"} for t in range(20)]
    rows.append({"start": at(21), "ok": False, "served_version": "v2"})
    df = frame(rows)
    assert shares(df, "served_version") == {"v1": 0.8, "v2": 0.2}
    over = shares_over_time(df, "served_version", 10.0)
    assert list(over["v2"]) == [0.2, 0.2]


def test_degradation_classes() -> None:
    rows = [{"start": at(0), "ok": True, "model_requested": "big", "served_model": "big"},
            {"start": at(1), "ok": True, "model_requested": "big", "served_model": "small"},
            {"start": at(2), "ok": False, "status": 503, "model_requested": "big"},
            {"start": at(3), "ok": False, "status": 500, "model_requested": "big"}]
    assert degradation(frame(rows)) == {"requested_model": 0.25, "fallback_model": 0.25, "shed": 0.25, "error": 0.25}


def test_a_million_records_in_under_five_seconds() -> None:
    n = 1_000_000
    rng = np.random.default_rng(1)
    start = pd.Timestamp(T0) + pd.to_timedelta(np.sort(rng.uniform(0, 600, n)), unit="s")
    df = pd.DataFrame({"start": start, "ok": rng.random(n) > 0.01, "ttft_s": rng.exponential(0.2, n),
                       "served_region": rng.choice(["us-east", "us-west"], n)})
    t0 = time.perf_counter()
    df = timed(df)
    windowed(df, 10.0)
    percentile_ms(df["ttft_s"], 0.99)
    shares_over_time(df, "served_region", 10.0)
    time_to_shift(df, T0.timestamp() + 300, "served_region", lambda s: s == "us-west", 10)
    assert time.perf_counter() - t0 < 5.0
