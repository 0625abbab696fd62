from datetime import UTC, datetime

import pandas as pd
import pytest

from harness.load.records import records_frame
from harness.report.timeline import CONSECUTIVE, FaultWindow, build_timeline, fault_windows, window_width

T0 = 1_780_000_000.0


def _records(n: int, fail: tuple[float, float] = (0, 0), pod: str = "b", pod_until: float = 0.0) -> pd.DataFrame:
    rows = []
    for i in range(n):
        t = i * 0.1
        bad = fail[0] <= t < fail[1]
        rows.append({"start": datetime.fromtimestamp(T0 + t, UTC).isoformat(timespec="milliseconds"),
                     "scenario": "s", "api": "chat", "stream": True, "model_requested": "m", "tier": "standard",
                     "ok": not bad, "status": 503 if bad else 200, "ttft_s": None if bad else 0.05 + (i % 3) * 0.01,
                     "served_pod": None if bad else ("a" if t < pod_until and i % 2 else pod),
                     "served_region": None if bad else "us-east", "served_model": None if bad else "m"})
    return records_frame(rows)


def _fault(start: float, end: float | None, pods: list[str]) -> FaultWindow:
    return FaultWindow("kill_pods", "app=x", T0 + start, T0 + start + 0.1, None, None if end is None else T0 + end,
                       "rolled_back", {"pod": pods})


def test_success_rate_dips_in_the_fault_window_and_shares_sum_to_one() -> None:
    tl = build_timeline(_records(300, fail=(10.0, 13.0)), [_fault(10.0, 20.0, ["a"])], width_s=1.0)
    assert tl["origin"] == pytest.approx(T0)
    rates = dict(zip(tl["windows"], tl["success_rate"], strict=True))
    assert rates[9.0] == 1.0 and rates[10.0] == 0.0 and rates[12.0] == 0.0 and rates[13.0] == 1.0
    assert tl["ttft_p95_ms"][10] is None and tl["ttft_p95_ms"][0] == pytest.approx(70.0)
    region = tl["shares"]["region"]["us-east"]
    assert region[10] is None and region[0] == 1.0  # a window with no success has no share, not a share of 0
    assert tl["faults"][0]["start"] == pytest.approx(10.0) and tl["faults"][0]["end"] == pytest.approx(20.0)
    assert tl["figures"]["requests"] == 300 and tl["figures"]["availability"] == pytest.approx(0.9)


def test_failover_is_the_first_sustained_success_away_from_the_killed_pod() -> None:
    # the killed pod "a" still answers every other request until 12 s (a stale endpoint), errors 10 s .. 11 s
    records = _records(300, fail=(10.0, 11.0), pod_until=12.0)
    tl = build_timeline(records, [_fault(10.0, 25.0, ["a"])], width_s=1.0)
    assert tl["faults"][0]["time_to_failover_s"] == pytest.approx(2.0, abs=0.15)
    # a fault that took out nothing named: succeeding again is enough
    tl = build_timeline(records, [_fault(10.0, 25.0, [])], width_s=1.0)
    assert tl["faults"][0]["time_to_failover_s"] == pytest.approx(1.0, abs=0.15)
    # never served elsewhere in a sustained run: not seen, not zero
    assert build_timeline(_records(300, pod="a"), [_fault(10.0, 25.0, ["a"])])["faults"][0]["time_to_failover_s"] is None


def test_recover_from_ready_replicas_else_from_requests_after_the_rollback() -> None:
    replicas = {"v1": [(T0 + s, 1.0 if 10 <= s < 17 else 2.0) for s in range(30)], "v2": [(T0 + s, 1.0) for s in range(30)]}
    tl = build_timeline(_records(300), [_fault(10.0, 12.0, ["a"])], replicas, width_s=1.0)
    assert tl["faults"][0]["time_to_recover_s"] == pytest.approx(7.0)
    assert tl["faults"][0]["recover_from"] == "fault" and tl["faults"][0]["recovered_at"] == pytest.approx(17.0)
    assert tl["replicas"]["v1"][10] == [10.0, 1.0]
    # no replica dip: from the rollback (20 s) until requests succeed where they were served before
    tl = build_timeline(_records(300, fail=(10.0, 22.0)), [_fault(10.0, 20.0, [])], {}, width_s=1.0)
    assert tl["faults"][0]["time_to_recover_s"] == pytest.approx(2.0, abs=0.15)
    assert tl["faults"][0]["recover_from"] == "rollback" and tl["faults"][0]["recovered_at"] == pytest.approx(22.0)
    assert tl["faults"][0]["failed_over_at"] == pytest.approx(22.0)
    assert tl["figures"]["time_to_recover_s"] == tl["faults"][0]["time_to_recover_s"]


def test_fault_windows_from_journal_entries() -> None:
    entries = [
        {"action": "region_outage", "params": {"region": "us-east"}, "state": "rolled_back", "created": 5.0,
         "started_at": 5.1, "confirmed_at": 5.5, "undo_started_at": 9.0, "ended_at": 9.5},
        {"action": "kill_pods", "params": {"selector": "app=x", "pods": ["p-0"]}, "state": "dry_run", "created": 1.0},
        {"action": "kill_pods", "params": {"selector": "app=x", "pods": ["p-1"]}, "state": "injected", "created": 2.0},
    ]
    faults = fault_windows(entries)
    assert [f.action for f in faults] == ["kill_pods", "region_outage"]  # the dry run left out; by start
    assert faults[0].hit == {"pod": ["p-1"]} and faults[0].start == 2.0 and faults[0].end is None
    assert faults[1].hit == {"region": ["us-east"]} and faults[1].target == "region us-east"


def test_empty_records_and_window_width() -> None:
    tl = build_timeline(records_frame([]), [])
    assert tl["windows"] == [] and tl["figures"]["availability"] is None and tl["faults"] == []
    assert window_width(40.0) == 1.0 and window_width(5.0) == 0.5 and window_width(600.0) == 15.0
    assert CONSECUTIVE >= 5


def test_the_plot_shows_the_deployments_that_moved_or_their_total() -> None:
    from harness.report.plots import _moving_replicas

    moved = {"v1": [[0.0, 2.0], [1.0, 1.0], [2.0, 2.0]], "v2": [[0.0, 1.0], [1.0, 1.0]]}
    assert list(_moving_replicas(moved)) == ["v1"]
    still = {"v1": [[0.0, 2.0], [1.0, 2.0]], "v2": [[0.0, 1.0], [1.0, 1.0]]}
    assert _moving_replicas(still) == {"all deployments (none changed)": [[0.0, 3.0], [1.0, 3.0]]}


def test_a_region_recovers_when_its_traffic_is_back_not_its_pods() -> None:
    replicas = {"v1": [(T0 + s, 0.0 if 10 <= s < 30 else 2.0) for s in range(40)]}
    outage = FaultWindow("region_outage", "region us-east", T0 + 10, T0 + 10.2, T0 + 20, T0 + 25, "rolled_back",
                         {"region": ["us-east"]})
    tl = build_timeline(_records(400, fail=(10.0, 21.0)), [outage], replicas, width_s=1.0)
    fault = tl["faults"][0]
    assert fault["recover_from"] == "rollback" and fault["time_to_recover_s"] == pytest.approx(1.0, abs=0.15)
