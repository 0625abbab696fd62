"""What a finished Chaos Toolkit run means for the harness: a failed or
refused method action fails the run, exit codes per outcome, named time
limits read from the configuration."""

from __future__ import annotations

import pytest

from harness.chaos.runner import INTERRUPTED_EXIT, RunOutcome, failed_actions
from harness.chaos.timeouts import ChaosTimeouts


def run(name: str, kind: str, status: str, error: str = "") -> dict[str, object]:
    out: dict[str, object] = {"activity": {"type": kind, "name": name}, "status": status}
    if error:
        out["exception"] = [f"chaoslib.exceptions.ActivityFailed: harness.chaos.errors.ChaosActionFailed: {error}\n"]
    return out


def test_a_failed_method_action_is_reported_with_its_reason() -> None:
    journal = {"status": "completed", "run": [
        run("probe-before", "probe", "failed", "no data"),
        run("kill-one", "action", "failed", "kill_pods: 3 of the workload's 5 pods is 60%"),
        run("abort", "action", "succeeded")]}
    assert failed_actions(journal) == [
        "kill-one: kill_pods: 3 of the workload's 5 pods is 60%"]
    assert failed_actions({"status": "completed", "run": [run("abort", "action", "succeeded")]}) == []
    assert failed_actions({"status": "failed"}) == []


@pytest.mark.parametrize("outcome, code", [
    (RunOutcome("completed", False), 0),
    (RunOutcome("completed", True), 1),
    (RunOutcome("failed", False, reason="action kill-one: refused"), 1),
    (RunOutcome("aborted", False), 1),
    (RunOutcome("completed", False, rollbacks=[{"id": "a", "action": "kill_pods", "rolled_back": False,
                                                "error": "x"}]), 1),
    (RunOutcome("interrupted", False), INTERRUPTED_EXIT),
])
def test_exit_codes(outcome: RunOutcome, code: int) -> None:
    assert outcome.exit_code == code


def test_time_limits_default_and_override() -> None:
    assert ChaosTimeouts.from_configuration(None) == ChaosTimeouts()
    t = ChaosTimeouts.from_configuration({"harness_confirm_timeout_s": "2.5", "harness_region_ready_timeout_s": 30})
    assert (t.confirm_s, t.region_ready_s, t.ready_s) == (2.5, 30.0, ChaosTimeouts().ready_s)


def test_a_stop_signal_interrupts_once_while_running_and_is_only_recorded_after() -> None:
    import os
    import signal

    from harness.chaos.runner import Interrupted, _StopSignals

    before = signal.getsignal(signal.SIGTERM)
    signals = _StopSignals()
    with signals.installed():
        os.kill(os.getpid(), signal.SIGTERM)  # not running yet: recorded only
        signals.running = True
        with pytest.raises(Interrupted, match="SIGINT"):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs as the call returns
        assert not signals.running
        os.kill(os.getpid(), signal.SIGTERM)  # during the rollback: recorded, nothing raised
    assert signals.received == ["SIGTERM", "SIGINT", "SIGTERM"]
    assert signal.getsignal(signal.SIGTERM) is before
