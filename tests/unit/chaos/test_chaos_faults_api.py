"""The plain-function API: a context manager per fault that journals,
injects, confirms, always rolls back exactly its own entries, and returns
the fault's wall-clock window."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from fake_target import FakeTarget

from harness.chaos import actions
from harness.chaos.errors import ChaosActionFailed
from harness.chaos.faults import fault
from harness.chaos.journal import Journal


def test_the_window_is_ordered_utc_and_the_fault_is_gone_after_the_block(fake: FakeTarget,
                                                                          config: dict[str, Any]) -> None:
    fake.recreate_after = 2
    with fault(actions.kill_pods, selector="app=chat,region=us-east", count=1, configuration=config) as window:
        [victim] = window.result["killed"]
        assert not fake.pods[victim].ready
        assert window.started is not None and window.confirmed is not None and window.ended is None
    assert fake.pods[victim].ready
    assert window.started.tzinfo is UTC
    assert window.rollback_started is not None and window.ended is not None
    assert window.started <= window.confirmed <= window.rollback_started <= window.ended
    assert [e.state for e in Journal(config["harness_journal"]).entries()] == ["rolled_back"]


def test_an_exception_in_the_block_still_rolls_back(fake: FakeTarget, config: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match="the test failed"):
        with fault(actions.inject_abort, virtual_service="chat", route="pinned-v1", configuration=config):
            raise RuntimeError("the test failed")
    assert all("fault" not in r for r in fake.get_istio("VirtualService", "chat")["spec"]["http"])


def test_only_its_own_entries_are_rolled_back(fake: FakeTarget, config: dict[str, Any]) -> None:
    actions.engine_slowdown("app=chat,region=us-east", count=1, seed=0, configuration=config)  # someone else's
    with fault(actions.error_rate, selector="app=chat,region=eu-west", configuration=config) as window:
        pass
    states = {e.action: e.state for e in Journal(config["harness_journal"]).entries()}
    assert states == {"engine_slowdown": "confirmed", "error_rate": "rolled_back"}
    assert len(window.journal_ids) == 1


def test_an_unconfirmed_fault_raises_after_rolling_back_what_happened(fake: FakeTarget,
                                                                      config: dict[str, Any]) -> None:
    fake.drop_writes = True
    with pytest.raises(ChaosActionFailed, match="did not take effect"):
        with fault(actions.inject_latency, virtual_service="chat", configuration=config):
            pytest.fail("the block must not run when the fault is not in place")
    assert [e.state for e in Journal(config["harness_journal"]).entries()] == ["rolled_back"]


def test_a_failed_rollback_raises_and_stays_in_the_journal(fake: FakeTarget, config: dict[str, Any]) -> None:
    fake.region_comes_back = False
    with pytest.raises(ChaosActionFailed, match=r"rollback of region_outage failed: only 0 of 2 .*harness chaos rollback"):
        with fault(actions.region_outage, region="us-east", configuration=config) as window:
            pass
    assert window.ended is None
    assert [e.state for e in Journal(config["harness_journal"]).pending()] == ["rollback_failed"]
