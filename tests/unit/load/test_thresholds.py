"""percentile, summarize and evaluate: CI pass/fail over a run's records."""

from __future__ import annotations

import math

import pytest

from harness.load.records import RequestRecord
from harness.load.thresholds import ThresholdResult, Thresholds, evaluate, summarize
from harness.stats import percentile


def rec(ok: bool = True, ttft: float | None = 0.1, itl: list[float] | None = None, e2e: float | None = 1.0,
        tokens: int | None = 10) -> RequestRecord:
    return RequestRecord(start="2024-05-01T12:00:00+00:00", scenario="t", api="chat", stream=True,
                         model_requested="m", tier="standard", status=200 if ok else 503, ok=ok,
                         error_kind=None if ok else "http", ttft_s=ttft, itl_s=list(itl or []), e2e_s=e2e,
                         output_tokens=tokens)


# -- percentile ---------------------------------------------------------------------------


def test_percentile_nearest_rank() -> None:
    values = [15, 20, 35, 40, 50]  # the textbook nearest-rank example
    assert percentile(values, 0.05) == 15
    assert percentile(values, 0.30) == 20
    assert percentile(values, 0.40) == 20
    assert percentile(values, 0.50) == 35
    assert percentile(values, 1.0) == 50


def test_percentile_ignores_input_order_and_does_not_sort_in_place() -> None:
    values = [50, 15, 40, 20, 35]
    assert percentile(values, 0.5) == 35
    assert values == [50, 15, 40, 20, 35]


def test_percentile_hundred_values() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.99) == 99
    assert percentile(values, 0.991) == 100


def test_percentile_common_quantiles_are_exact_ranks() -> None:
    for n in range(1, 1001):
        values = list(range(1, n + 1))
        for q, per_100 in ((0.5, 50), (0.9, 90), (0.95, 95), (0.99, 99)):
            expected = max(1, -(-n * per_100 // 100))  # ceil(q*n) in integers
            assert percentile(values, q) == expected, (n, q)


@pytest.mark.parametrize("q,rank", [(0.07, 7), (0.14, 14), (0.28, 28), (0.55, 55), (0.56, 56)])
def test_percentile_exact_rank_is_not_pushed_up_by_float_error(q: float, rank: int) -> None:
    assert percentile(list(range(1, 101)), q) == rank


def test_percentile_edges() -> None:
    assert math.isnan(percentile([], 0.5))
    assert percentile([7.0], 0.0) == 7.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([3, 1, 2], 0.0) == 1


# -- summarize ----------------------------------------------------------------------------


def test_summarize_counts_failures_and_excludes_them_from_latency() -> None:
    records = [rec(ttft=0.1, itl=[0.01, 0.02], e2e=1.0, tokens=10),
               rec(ttft=0.3, itl=[0.03], e2e=2.0, tokens=20),
               # failed records: their (bogus) figures must not count
               rec(ok=False, ttft=9.0, itl=[9.0], e2e=30.0, tokens=1000),
               rec(ok=False, ttft=None, e2e=0.5, tokens=None)]
    s = summarize(records, duration_s=10.0)
    assert s["requests"] == 4
    assert s["failures"] == 2
    assert s["error_rate"] == pytest.approx(0.5)
    assert s["ttft_p50_ms"] == pytest.approx(100)
    assert s["ttft_p95_ms"] == pytest.approx(300)
    assert s["ttft_p99_ms"] == pytest.approx(300)
    assert s["itl_p50_ms"] == pytest.approx(20)
    assert s["itl_p99_ms"] == pytest.approx(30)
    assert s["e2e_p95_ms"] == pytest.approx(2000)
    assert s["output_tokens"] == 30
    assert s["output_tokens_per_s"] == pytest.approx(3.0)


def test_summarize_empty_and_all_failed() -> None:
    empty = summarize([])
    assert empty["requests"] == 0 and empty["failures"] == 0
    assert math.isnan(empty["error_rate"])
    failed = summarize([rec(ok=False), rec(ok=False)], duration_s=5)
    assert failed["error_rate"] == 1.0
    for key in ("ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms", "e2e_p95_ms"):
        assert math.isnan(failed[key]), key
    assert failed["output_tokens"] == 0
    assert failed["output_tokens_per_s"] == 0


def test_summarize_without_duration_has_no_throughput() -> None:
    assert math.isnan(summarize([rec()])["output_tokens_per_s"])
    assert math.isnan(summarize([rec()], duration_s=0)["output_tokens_per_s"])


# -- evaluate -----------------------------------------------------------------------------


def by_name(results: list[ThresholdResult]) -> dict[str, ThresholdResult]:
    return {r.name: r for r in results}


def test_only_configured_thresholds_and_requests_are_reported() -> None:
    results = evaluate([rec()], Thresholds())
    assert [r.name for r in results] == ["requests"]
    assert results[0].passed
    assert not Thresholds().any
    assert not Thresholds(min_requests=5).any
    assert Thresholds(max_error_rate=0.1).any


@pytest.mark.parametrize("field,name,at_limit", [
    ("max_ttft_p95_ms", "ttft_p95_ms", 200.0),
    ("max_ttft_p99_ms", "ttft_p99_ms", 200.0),
    ("max_itl_p99_ms", "itl_p99_ms", 50.0),
    ("max_e2e_p95_ms", "e2e_p95_ms", 1500.0),
])
def test_max_thresholds_pass_at_the_limit_and_fail_above(field: str, name: str, at_limit: float) -> None:
    # values chosen so that the ms figures are exact binary fractions
    records = [rec(ttft=0.125, itl=[0.03125], e2e=1.0), rec(ttft=0.2, itl=[0.05], e2e=1.5)]
    observed = summarize(records)[name]
    assert observed == pytest.approx(at_limit)
    for limit, passed in ((observed, True), (observed + 1e-6, True), (observed - 1e-6, False)):
        r = by_name(evaluate(records, Thresholds(**{field: limit})))[name]
        assert r.passed is passed, (limit, r)
        assert r.observed == observed and r.limit == limit


def test_error_rate_threshold() -> None:
    records = [rec(), rec(), rec(), rec(ok=False)]
    assert by_name(evaluate(records, Thresholds(max_error_rate=0.25)))["error_rate"].passed
    assert not by_name(evaluate(records, Thresholds(max_error_rate=0.2)))["error_rate"].passed
    assert by_name(evaluate([rec()], Thresholds(max_error_rate=0.0)))["error_rate"].passed


def test_min_output_tokens_per_s() -> None:
    records = [rec(tokens=30), rec(tokens=20)]
    assert by_name(evaluate(records, Thresholds(min_output_tokens_per_s=5.0), duration_s=10))[
        "output_tokens_per_s"].passed  # 5.0 >= 5.0
    r = by_name(evaluate(records, Thresholds(min_output_tokens_per_s=5.1), duration_s=10))["output_tokens_per_s"]
    assert not r.passed and r.observed == pytest.approx(5.0)


def test_output_tokens_per_s_needs_a_duration() -> None:
    r = by_name(evaluate([rec(tokens=10_000)], Thresholds(min_output_tokens_per_s=1.0)))["output_tokens_per_s"]
    assert not r.passed
    assert math.isnan(r.observed)


def test_threshold_without_data_fails() -> None:
    all_failed = [rec(ok=False), rec(ok=False)]
    t = Thresholds(max_ttft_p95_ms=1e9, max_ttft_p99_ms=1e9, max_itl_p99_ms=1e9, max_e2e_p95_ms=1e9)
    results = by_name(evaluate(all_failed, t))
    for name in ("ttft_p95_ms", "ttft_p99_ms", "itl_p99_ms", "e2e_p95_ms"):
        assert not results[name].passed, name
        assert math.isnan(results[name].observed)
    assert results["requests"].passed  # requests were made, they just all failed


def test_successful_requests_without_itl_fail_an_itl_threshold() -> None:
    # single-token answers: nothing measured for ITL is no pass
    r = by_name(evaluate([rec(itl=[])], Thresholds(max_itl_p99_ms=100)))["itl_p99_ms"]
    assert not r.passed


def test_min_requests_fails_an_empty_run() -> None:
    results = evaluate([], Thresholds())
    assert len(results) == 1
    assert results[0].name == "requests" and not results[0].passed
    assert results[0].observed == 0 and results[0].limit == 1
    assert not by_name(evaluate([], Thresholds(max_error_rate=1.0)))["error_rate"].passed


def test_min_requests_limit() -> None:
    assert by_name(evaluate([rec()] * 3, Thresholds(min_requests=3)))["requests"].passed
    assert not by_name(evaluate([rec()] * 2, Thresholds(min_requests=3)))["requests"].passed
    assert by_name(evaluate([], Thresholds(min_requests=0)))["requests"].passed


def test_result_str_names_metric_value_and_limit() -> None:
    records = [rec(ttft=0.1234), rec(ok=False)]
    results = by_name(evaluate(records, Thresholds(max_ttft_p95_ms=100, max_error_rate=0.6)))
    failed = str(results["ttft_p95_ms"])
    assert "FAILED" in failed and "ttft_p95_ms" in failed and "123.4" in failed and "100" in failed
    ok = str(results["error_rate"])
    assert ok.startswith("ok") and "FAILED" not in ok
    assert "error_rate" in ok and "0.5" in ok and "0.6" in ok
    assert str(ThresholdResult("itl_p99_ms", math.nan, 50, False)) == "FAILED: itl_p99_ms = nan (limit 50)"
