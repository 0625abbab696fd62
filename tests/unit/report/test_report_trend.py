from typing import Any

import pytest

from harness.report.trend import FIGURE_RULES, MIN_BASELINE, RunFigures, noise_band, trend
from harness.report.trend_html import trend_html


def _run(i: int, verdict: str = "pass", target: str = "local", **figures: float) -> RunFigures:
    summary: dict[str, Any] = {"run_id": f"run-{i}", "started": 1.78e9 + i * 86400, "target": target,
                               "profile": "smoke", "score": 100.0, "exit_code": 0,
                               "requirements": [{"id": "resilience.pod-kill", "verdict": verdict},
                                                {"id": "routing.canary-split", "verdict": "pass"}]}
    return RunFigures(summary, {"resilience.pod-kill": dict(figures)})


def _nightly(recover: list[float], last_verdict: str = "pass") -> list[RunFigures]:
    runs = [_run(i, time_to_recover_s=v, availability=0.999) for i, v in enumerate(recover)]
    runs[-1] = _run(len(recover) - 1, last_verdict, time_to_recover_s=recover[-1], availability=0.999)
    return runs


def test_a_figure_worse_beyond_noise_is_a_regression_within_noise_is_not() -> None:
    steady = [6.0, 6.4, 5.8, 6.2, 6.1]
    assert trend(_nightly([*steady, 6.5]))["regressions"] == []
    found = trend(_nightly([*steady, 9.0]))["regressions"]
    assert [(r["requirement"], r["figure"]) for r in found] == [("resilience.pod-kill", "time_to_recover_s")]
    assert found[0]["baseline"] == pytest.approx(6.1) and "worse than its recent median" in found[0]["message"]
    # better is never a regression
    assert trend(_nightly([*steady, 2.0]))["regressions"] == []


def test_noise_is_robust_and_has_a_floor() -> None:
    rule = FIGURE_RULES["time_to_recover_s"]
    median, allowed = noise_band([6.0, 6.0, 6.0, 6.0], rule)
    assert median == 6.0 and allowed == pytest.approx(0.6)  # identical runs: the 10 % floor, not zero
    _, wide = noise_band([5.0, 6.0, 6.0, 7.0, 30.0], rule)  # one wild run does not widen the band much
    assert wide == pytest.approx(3 * 1.4826 * 1.0)


def test_too_few_runs_are_not_judged_and_other_targets_are_not_compared() -> None:
    assert trend(_nightly([6.0] * (MIN_BASELINE - 1) + [60.0]))["regressions"] == []
    runs = [_run(i, target="kube", time_to_recover_s=1.0) for i in range(5)] + [_run(9, time_to_recover_s=60.0)]
    assert trend(runs)["regressions"] == []


def test_a_requirement_that_passed_and_now_fails() -> None:
    data = trend(_nightly([6.0, 6.0], last_verdict="fail"))
    [r] = data["regressions"]
    assert r["kind"] == "verdict" and r["message"] == "resilience.pod-kill passed in run-0 and fails in run-1"
    assert data["requirements"]["resilience.pod-kill"]["verdicts"] == ["pass", "fail"]
    # failing all along is not a regression (it is a failure the summary shows)
    runs = [_run(0, "fail"), _run(1, "fail")]
    assert trend(runs)["regressions"] == []


def test_trend_page_calls_the_regression_out() -> None:
    page = trend_html(trend(_nightly([6.0, 6.4, 5.8, 6.2, 6.1, 9.0])))
    assert 'data-regression="resilience.pod-kill"' in page and 'data-regressed="time_to_recover_s"' in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")
    quiet = trend_html(trend(_nightly([6.0, 6.4, 5.8, 6.2, 6.1, 6.0])))
    assert "No regression" in quiet and "data-regression=" not in quiet
