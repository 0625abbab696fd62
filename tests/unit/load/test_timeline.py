"""The LLM tab's figures over time: rates and percentiles per user class and
tier over a sliding window, sampled with explicit times."""

from __future__ import annotations

import pytest

from harness.load.records import RequestRecord
from harness.load.timeline import Timeline, points_csv, series_name


def rec(scenario: str = "Chat", tier: str = "standard", ok: bool = True, ttft: float = 0.05,
        itl: tuple[float, ...] = (0.01, 0.01, 0.03), tokens: int = 4, e2e: float = 1.0) -> RequestRecord:
    return RequestRecord(start="2024-05-01T12:00:00+00:00", scenario=scenario, api="chat", stream=True,
                         model_requested="m", tier=tier, status=200 if ok else 503, ok=ok,
                         error_kind=None if ok else "http", ttft_s=ttft if ok else None,
                         itl_s=list(itl) if ok else [], e2e_s=e2e, output_tokens=tokens if ok else None)


def test_rates_and_percentiles_per_class_and_tier_over_the_window() -> None:
    tl = Timeline(window_s=10)
    t0 = 1000.0
    tl.add(t0, rec(e2e=1.0))  # the run began one second before its first request finished
    for i in range(1, 20):
        tl.add(t0 + i * 0.5, rec(ttft=0.05 + i / 1000))
    tl.add(t0 + 5, rec(ok=False))
    tl.add(t0 + 6, rec(scenario="Premium", tier="premium", ttft=0.2, itl=(0.02,), tokens=2))
    points = {p.series: p for p in tl.sample(now=t0 + 9.0)}  # a window of exactly 10 s since the start
    std, premium = points["Chat (standard)"], points["Premium (premium)"]
    assert std.requests_per_s == pytest.approx(2.1) and std.failures_per_s == pytest.approx(0.1)
    # TTFTs 50, 51 .. 69 ms: nearest rank 10 and 19 of 20
    assert std.ttft_p50_ms == pytest.approx(59.0) and std.ttft_p95_ms == pytest.approx(68.0)
    assert std.itl_p50_ms == pytest.approx(10.0) and std.itl_p99_ms == pytest.approx(30.0)
    assert std.output_tokens_per_s == pytest.approx(20 * 4 / 10)
    assert premium.requests_per_s == pytest.approx(0.1) and premium.ttft_p95_ms == pytest.approx(200.0)
    assert list(tl.points) == sorted(points.values(), key=lambda p: p.series)


def test_a_young_run_is_measured_over_its_age_not_the_whole_window() -> None:
    tl = Timeline(window_s=10)
    tl.add(100.0, rec(e2e=0.5))
    tl.add(101.5, rec(e2e=0.5))
    (point,) = tl.sample(now=101.5)  # the run is 2 s old
    assert point.requests_per_s == pytest.approx(1.0)


def test_requests_leave_the_window_and_a_quiet_series_reads_zero_without_percentiles() -> None:
    tl = Timeline(window_s=10)
    tl.add(100.0, rec(e2e=0))
    tl.add(100.0, rec(scenario="Other", e2e=0))
    tl.add(115.0, rec(e2e=0))
    points = {p.series: p for p in tl.sample(now=115.0)}
    assert points["Chat (standard)"].requests_per_s == pytest.approx(0.1)
    quiet = points["Other (standard)"]
    assert quiet.requests_per_s == 0 and quiet.ttft_p50_ms is None and quiet.itl_p99_ms is None


def test_failed_requests_count_as_failures_and_add_no_latency() -> None:
    tl = Timeline(window_s=10)
    tl.add(100.0, rec(ok=False, e2e=0))
    (point,) = tl.sample(now=110.0 - 1e-6)
    assert point.failures_per_s == point.requests_per_s > 0
    assert point.ttft_p50_ms is None and point.output_tokens_per_s == 0


def test_nothing_to_sample_before_the_first_request() -> None:
    assert Timeline().sample(now=5.0) == []


def test_reset_clears_and_counts_a_generation_and_points_since_reads_the_new_samples() -> None:
    tl = Timeline(window_s=10)
    tl.add(100.0, rec(e2e=0))
    tl.sample(101.0)
    tl.sample(103.0)
    tl.sample(105.0)
    assert [p.time for p in tl.points_since(101.0)] == [103.0, 105.0]
    assert len(tl.points_since(0)) == 3 and tl.points_since(105.0) == []
    tl.reset()
    assert tl.generation == 1 and not tl.points and tl.sample(106.0) == []


def test_points_csv_one_row_per_time_and_series_with_empty_cells_for_no_data() -> None:
    tl = Timeline(window_s=10)
    tl.add(100.0, rec(ok=False, e2e=0))
    tl.sample(102.0)
    lines = points_csv(list(tl.points)).splitlines()
    assert lines[0] == ("time,series,requests_per_s,failures_per_s,ttft_p50_ms,ttft_p95_ms,itl_p50_ms,"
                        "itl_p99_ms,output_tokens_per_s")
    assert lines[1] == "102.0,Chat (standard),0.5,0.5,,,,,0.0"


def test_series_name_is_user_class_and_tier() -> None:
    assert series_name(rec(scenario="PremiumChat", tier="premium")) == "PremiumChat (premium)"


def test_llm_tab_table_rows_per_request_name() -> None:
    from harness.load.llm_tab import table_rows

    finished = [(100.0 + i, rec(ttft=0.01 * (i + 1), tokens=10)) for i in range(10)]
    finished.append((109.5, rec(ok=False)))
    finished.append((109.0, rec(scenario="Other", tokens=5)))
    rows = {r["name"]: r for r in table_rows(finished, started=90.0, now=110.0)}
    chat = rows["chat stream [Chat]"]
    assert chat["requests"] == 11 and chat["failures"] == 1
    assert chat["ttft_p50"] == "50.0" and chat["ttft_p99"] == "100.0"
    assert chat["itl_p50"] == "10.0" and chat["itl_p99"] == "30.0"
    assert chat["tokens_per_s"] == "10"  # 100 tokens in the last 10 s
    assert rows["chat stream [Other]"]["tokens_per_s"] == "0"  # 5 tokens / 10 s, rounded
    young = table_rows(finished[:1], started=99.0, now=101.0)[0]
    assert young["tokens_per_s"] == "5"  # 10 tokens over the run's 2 s, not over 10 s


def test_stride_keeps_at_most_cap_values_and_shares_no_factor_with_stream_lengths() -> None:
    from harness.load.timeline import stride

    assert stride(9_000, {9}, cap=10_000) == 1
    assert stride(90_000, {9}, cap=10_000) == 10  # 9 would take one position of each 9-gap stream
    assert stride(90_000, {9, 10}, cap=10_000) == 11
    assert stride(90_000, {10, 4}, cap=10_000) == 9
    assert stride(0, set(), cap=10_000) == 1


def test_a_window_over_the_value_cap_is_thinned_evenly_across_stream_positions(monkeypatch) -> None:
    from harness.load import timeline

    monkeypatch.setattr(timeline, "MAX_VALUES", 100)
    tl = Timeline(window_s=10)
    # 200 streams of 9 gaps, where gap i is i+1 ms: position-biased thinning would move p50 and p99
    for n in range(200):
        tl.add(100.0 + n * 0.01, rec(itl=tuple((i + 1) / 1000 for i in range(9)), ttft=(n + 1) / 1000))
    (point,) = tl.sample(now=103.0)
    assert point.itl_p50_ms == pytest.approx(5.0) and point.itl_p99_ms == pytest.approx(9.0)
    assert point.ttft_p50_ms == pytest.approx(100.0, abs=2) and point.requests_per_s == pytest.approx(200 / 4)


def test_the_window_edge_moves_by_whole_slots() -> None:
    from harness.load.timeline import SLOT_S

    tl = Timeline(window_s=10)
    tl.add(100.0, rec(e2e=0))
    (inside,) = tl.sample(now=110.0 + SLOT_S / 2)  # the record's slot still overlaps the window
    assert inside.requests_per_s > 0
    (outside,) = tl.sample(now=110.0 + 1.5 * SLOT_S)
    assert outside.requests_per_s == 0
