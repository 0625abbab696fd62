"""A latency verdict on the local stack: a failure while the stack's own lag
was above its bound (or not observed) is inconclusive; a failure while the
stack kept up, and every pass, stand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.certify.context import Evidence, RunContext
from harness.certify.registry import discover
from harness.certify.slo import load_slo
from harness.verdict import Check, Verdict


def context(lag: float | None, kind: str = "local") -> RunContext:
    requirement = next(r for r in discover() if r.id == "latency.ttft-slo")
    ctx = RunContext(requirement, target=None, target_kind=kind, gateway="", observations=None,  # type: ignore[arg-type]
                     prom=None, slo=load_slo(), evidence=Evidence(Path("."), requirement.id), chaos_configuration={})
    ctx.stack_lag = lambda start, end: lag if kind == "local" else 0.0  # type: ignore[method-assign]
    return ctx


def ttft(observed: float) -> Check:
    return Check.judge("latency.ttft-slo", "ttft p95", observed, "<=", 1.0, "s")


@pytest.mark.parametrize("lag,observed,expected", [
    (0.010, 1.2, Verdict.FAIL),  # the stack kept up: the mesh is to blame
    (0.049, 1.2, Verdict.FAIL),  # just within the 50 ms bound
    (0.300, 1.2, Verdict.INCONCLUSIVE),  # the stack's own loop stalled: it may have added the latency
    (0.300, 5.0, Verdict.INCONCLUSIVE),  # past capacity, queueing behind stalls adds far more than one stall
    (None, 1.2, Verdict.INCONCLUSIVE),  # lag not observed: cannot vouch for the stack
    (0.300, 0.5, Verdict.PASS),  # lag only adds latency: a pass stands
])
def test_latency_gate(lag: float | None, observed: float, expected: Verdict) -> None:
    judged = context(lag).judge_latency(ttft(observed), 0.0, 10.0)
    assert judged.verdict is expected
    if expected is Verdict.INCONCLUSIVE:
        assert "event-loop lag" in judged.reason


def test_too_few_samples_under_lag_names_the_overload_first() -> None:
    # An overloaded stack completes fewer requests: the sample shortfall is a
    # symptom, the stack's stall the cause to report.
    short = Check.judge("latency.ttft-slo", "ttft p95", 2.0, "<=", 1.0, "s", samples=29, min_samples=30)
    judged = context(0.300).judge_latency(short, 0.0, 10.0)
    assert judged.verdict is Verdict.INCONCLUSIVE
    assert judged.reason.startswith("the local stack's own event-loop lag") and "29 samples" in judged.reason
    assert context(0.010).judge_latency(short, 0.0, 10.0) is short


def test_a_cluster_is_never_gated() -> None:
    assert context(None, kind="kube").judge_latency(ttft(1.2), 0.0, 10.0).verdict is Verdict.FAIL


def test_non_latency_figures_pass_through(tmp_path: Any) -> None:
    check = Check("r", "x", Verdict.FAIL, "text", None)
    assert context(1.0).judge_latency(check, 0, 1) is check


def test_timeline_marks_keep_only_real_moments() -> None:
    ctx = context(0.0)
    ctx.mark("failed over", 100.0)
    ctx.mark("never", None)
    ctx.mark("not within the run", float("inf"))
    assert ctx.timeline == {"marks": {"failed over": 100.0}}


def stalled_context(lag: float, points: list[tuple[float, float]]) -> RunContext:
    from harness.localstack.selfcheck import Stalls

    ctx = context(lag)
    ctx.stack_stalls = lambda start, end: Stalls.from_points(points)  # type: ignore[method-assign]
    return ctx


def each_second(stalls: dict[int, float]) -> list[tuple[float, float]]:
    """The stalls query's points over the window (a point every second, as
    Prometheus answers), lagging past the bound at the seconds given."""
    return [(float(t), stalls.get(t, 0.01)) for t in range(0, 102)]


def ttft_of(frame: pd.DataFrame) -> Check:
    return Check.judge("latency.ttft-slo", "ttft p95", float(frame["ttft_s"].quantile(0.95)), "<=", 1.0, "s",
                       samples=len(frame), min_samples=30)


# 100 requests, one a second from t=0, each 2 s long; the slow ones (TTFT 1.5 s)
# are the mesh's doing when spread over the window, the double's when they sit
# in the stall
def requests(slow: list[int]) -> pd.DataFrame:
    t = np.arange(100.0)
    return pd.DataFrame({"t": t, "e2e_s": 2.0, "ttft_s": [1.5 if i in slow else 0.2 for i in range(100)]})


def judge(frame: pd.DataFrame, ctx: RunContext) -> Check:
    def again(stalls: Any) -> Check:
        # a stall after the first token cannot have moved the TTFT
        return ttft_of(frame[stalls.clear(frame["t"], frame["t"] + frame["ttft_s"])])
    return ctx.judge_latency(ttft_of(frame), 0.0, 101.0, rejudge=again)


def test_a_brief_stall_does_not_hide_a_slow_mesh() -> None:
    judged = judge(requests(list(range(100))), stalled_context(0.058, each_second({50: 0.058})))
    assert judged.verdict is Verdict.FAIL
    assert "clear of the local stack's 1 brief stall" in judged.reason


def test_failures_inside_the_stall_are_the_doubles() -> None:
    # the slow requests all overlap the stall at t=50: without them the mesh passes
    slow = [i for i in range(100) if 44 <= i <= 51]
    judged = judge(requests(slow), stalled_context(0.3, each_second({50: 0.3})))
    assert judged.verdict is Verdict.INCONCLUSIVE and "event-loop lag" in judged.reason
    assert "on the requests clear of the stalls" in judged.reason and "reads pass" in judged.reason


def test_a_stack_stalled_most_of_the_window_stays_inconclusive() -> None:
    # lagging in 3 seconds of every 5: short of capacity
    points = each_second({t: 0.08 for t in range(0, 102) if t % 5 < 3})
    judged = judge(requests(list(range(100))), stalled_context(0.08, points))
    assert judged.verdict is Verdict.INCONCLUSIVE and "event-loop lag" in judged.reason
    assert "an overload, not a hiccup" in judged.reason and "62 of the window's 102 seconds" in judged.reason


def test_isolated_stalls_are_a_hiccup_though_their_doubt_covers_most_of_the_window() -> None:
    # a stall every 5 s: each widened to about 3 s (60 % of the window), yet
    # the stack lagged in one second of five; the mesh's 1.2 s TTFT shows in
    # the requests whose wait for a first token met no stall
    points = each_second({t: 0.08 for t in range(0, 102) if t % 5 == 0})
    t = np.arange(0.0, 100.0, 0.25)
    frame = pd.DataFrame({"t": t, "e2e_s": 2.0, "ttft_s": 1.2})
    ctx = stalled_context(0.08, points)
    from harness.localstack.selfcheck import Stalls
    assert Stalls.from_points(points).share(0.0, 101.0) > 0.5
    judged = judge(frame, ctx)
    assert judged.verdict is Verdict.FAIL, judged.reason
    assert "clear of the local stack's" in judged.reason


def test_stalls_merge_and_cover() -> None:
    from harness.localstack.selfcheck import Stalls

    stalls = Stalls.from_points([(10.0, 0.06), (11.0, 0.07), (30.0, 0.01), (40.0, float("nan"))])
    assert len(stalls.intervals) == 1 and stalls.max_lag_s == 0.07
    lo, hi = stalls.intervals[0]
    assert lo < 10.0 - 2.0 and hi >= 12.0
    assert 0 < stalls.share(0.0, 100.0) < 0.1
    assert stalls.clear([0.0, 9.0, 20.0], [1.0, 9.5, 21.0]).tolist() == [True, False, True]
    assert Stalls.from_points([]).share(0.0, 10.0) == 0.0


class FakeProm:
    def __init__(self, answer: list[tuple[dict[str, str], float]]) -> None:
        self.answer, self.queries = answer, []  # type: ignore[var-annotated]

    def wait_for_scrape_after(self, t: float) -> None:
        return None

    def instant(self, query: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        self.queries.append((query, at))
        return self.answer


def test_slo_promql_runs_the_specs_query_over_the_checks_window() -> None:
    ctx = context(0.0)
    ctx.prom = FakeProm([({}, 0.97)])  # type: ignore[assignment]
    query, value = ctx.slo_promql("availability", 100.0, 123.0)
    assert value == 0.97 and query is not None and "[23s]" in query
    assert ctx.prom.queries == [(query, 124.0)]  # type: ignore[attr-defined]
    ctx.prom = FakeProm([({}, float("nan"))])  # type: ignore[assignment]
    assert ctx.slo_promql("availability", 100.0, 123.0)[1] is None  # no traffic: no figure, never a pass
    assert ctx.slo_promql("ttft_p95", 100.0, 123.0) == (None, None)  # the spec gives no query for it
