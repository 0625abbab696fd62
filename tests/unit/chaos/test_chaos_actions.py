"""The action template (journal, act, confirm, undo) through every action,
against a fake target: what is journaled when, what a failed or refused
action leaves, and that each rollback waits for the target to be back."""

from __future__ import annotations

from typing import Any

import pytest
from fake_target import FakeTarget

from harness.chaos import actions
from harness.chaos.errors import ChaosActionFailed
from harness.chaos.journal import Journal
from harness.chaos.rollback import rollback_journal


def journal_states(config: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e.action, e.state) for e in Journal(config["harness_journal"]).entries()]


def test_kill_pods_journals_confirms_and_its_rollback_waits_until_ready(fake: FakeTarget,
                                                                        config: dict[str, Any]) -> None:
    fake.recreate_after = 3
    out = actions.kill_pods("app=chat,region=us-east", count=1, seed=1, configuration=config)
    [victim] = out["killed"]
    assert out["ready_before"] == 2 and fake.calls == [f"delete {victim}"]
    assert journal_states(config) == [("kill_pods", "confirmed")]
    [entry] = Journal(config["harness_journal"]).entries()
    assert entry.started_at is not None and entry.confirmed_at is not None
    assert entry.created <= entry.started_at <= entry.confirmed_at
    assert entry.undo == {"op": "wait_ready", "args": {"selector": "app=chat,region=us-east", "namespace": None,
                                                       "ready": 2}}
    actions.rollback_all(configuration=config)
    assert fake.pods[victim].ready
    assert journal_states(config) == [("kill_pods", "rolled_back")]


def test_kill_pods_whose_delete_fails_is_journaled_failed_and_still_rolled_back(fake: FakeTarget,
                                                                                 config: dict[str, Any]) -> None:
    fake.fail_delete = True
    with pytest.raises(ChaosActionFailed, match="kill_pods: delete pod .*403 Forbidden"):
        actions.kill_pods("app=chat", count=1, configuration=config)
    [entry] = Journal(config["harness_journal"]).entries()
    assert entry.state == "failed" and "injection failed" in entry.note
    assert [r["rolled_back"] for r in rollback_journal(Journal(config["harness_journal"]), config)] == [True]


def test_the_blast_radius_cap_refuses_before_anything_is_journaled(fake: FakeTarget, config: dict[str, Any]) -> None:
    with pytest.raises(ChaosActionFailed, match="3 of the workload's 4 pods is 75%, above the blast-radius cap of 50%"):
        actions.kill_pods("app=chat", count=3, configuration=config)
    config["harness_max_blast_percent"] = 25
    # a narrow selector is still measured against its whole workload (app=chat)
    with pytest.raises(ChaosActionFailed, match="2 of the workload's 4 pods is 50%"):
        actions.kill_pods("app=chat,region=us-east", count=2, configuration=config)
    assert fake.calls == [] and journal_states(config) == []


def test_a_selector_matching_nothing_is_an_error(fake: FakeTarget, config: dict[str, Any]) -> None:
    with pytest.raises(ChaosActionFailed, match="matches no pod"):
        actions.error_rate("app=nothing", configuration=config)
    assert journal_states(config) == []


def test_engine_faults_are_confirmed_and_cleared(fake: FakeTarget, config: dict[str, Any]) -> None:
    out = actions.engine_slowdown("app=chat,region=eu-west", factor=4, configuration=config)
    [pod] = out["pods"]
    assert fake.faults[pod] == {"slow": {"kind": "slow", "factor": 4}}
    actions.rollback_all(configuration=config)
    assert fake.faults[pod] == {} and journal_states(config) == [("engine_slowdown", "rolled_back")]


def test_a_gpu_oom_rollback_waits_until_the_dead_engine_is_ready_again(fake: FakeTarget,
                                                                       config: dict[str, Any]) -> None:
    fake.recreate_after = 4
    [pod] = actions.gpu_oom("app=chat,region=us-east", configuration=config)["pods"]
    assert not fake.pods[pod].ready and fake.pods[pod].restarts == 1
    actions.rollback_all(configuration=config)
    assert fake.pods[pod].ready
    assert journal_states(config) == [("gpu_oom", "rolled_back")]


def test_a_gpu_oom_rollback_waits_for_the_restart_not_for_a_pod_that_still_reads_ready(
        fake: FakeTarget, config: dict[str, Any]) -> None:
    # the dead engine's pod reads ready until its process exits: a ready count
    # alone would call the rollback done before the engine even went down
    fake.oom_exits_after, fake.recreate_after = 5, 3
    [pod] = actions.gpu_oom("app=chat,region=us-east", configuration=config)["pods"]
    assert fake.pods[pod].ready and fake.pods[pod].restarts == 0
    actions.rollback_all(configuration=config)
    assert fake.pods[pod].ready and fake.pods[pod].restarts == 1
    assert journal_states(config) == [("gpu_oom", "rolled_back")]


def test_a_fault_that_never_shows_fails_within_the_named_limit(fake: FakeTarget, config: dict[str, Any]) -> None:
    fake.drop_writes = True  # accepted and dropped, as by an admission webhook
    with pytest.raises(ChaosActionFailed, match=r"did not take effect within 0.3s: .*harness_confirm_timeout_s"):
        actions.inject_abort("chat", route="pinned-v1", configuration=config)
    [entry] = Journal(config["harness_journal"]).entries()
    assert entry.state == "failed" and entry.note.startswith("fault not confirmed")


def test_an_abort_on_one_route_and_its_restore(fake: FakeTarget, config: dict[str, Any]) -> None:
    original = fake.get_istio("VirtualService", "chat")
    actions.inject_abort("chat", http_status=503, route="pinned-v1", configuration=config)
    rules = {r["name"]: r for r in fake.get_istio("VirtualService", "chat")["spec"]["http"]}
    assert rules["pinned-v1"]["fault"] == {"abort": {"httpStatus": 503, "percentage": {"value": 100.0}}}
    assert "fault" not in rules["default"]
    actions.rollback_all(configuration=config)
    restored = fake.get_istio("VirtualService", "chat")
    assert restored["spec"] == original["spec"]
    assert restored["metadata"]["resourceVersion"] == "3"  # the restore carried the current version


def test_a_latency_fault_on_a_header_match_is_a_new_first_rule(fake: FakeTarget, config: dict[str, Any]) -> None:
    actions.inject_latency("chat", fixed_delay="1s", header={"x-chaos": "slow"}, configuration=config)
    first = fake.get_istio("VirtualService", "chat")["spec"]["http"][0]
    assert first["name"] == "harness-fault" and first["match"] == [{"headers": {"x-chaos": {"exact": "slow"}}}]
    assert first["route"] == [{"destination": {"host": "chat", "subset": "v1"}}]


def test_an_unknown_route_is_refused_before_anything_is_journaled(fake: FakeTarget, config: dict[str, Any]) -> None:
    with pytest.raises(ChaosActionFailed, match=r"route 'nope' not found .*\['pinned-v1', 'default'\]"):
        actions.inject_abort("chat", route="nope", configuration=config)
    assert journal_states(config) == [] and fake.calls == []


def test_a_region_outage_rollback_waits_until_the_region_is_ready(fake: FakeTarget, config: dict[str, Any]) -> None:
    fake.recreate_after = 3
    out = actions.region_outage("eu-west", mode="blackhole", configuration=config)
    assert out["ready_before"] == 2 and fake.regions["eu-west"] == "blackhole"
    [entry] = Journal(config["harness_journal"]).entries()
    assert entry.undo["args"] == {"region": "eu-west", "undo": {"was": "up"}, "ready": 2}
    actions.rollback_all(configuration=config)
    assert all(p.ready for p in fake.list_pods("region=eu-west"))


def test_a_region_that_does_not_come_back_fails_the_rollback_then_a_replay_clears_the_note(
        fake: FakeTarget, config: dict[str, Any]) -> None:
    fake.region_comes_back = False
    actions.region_outage("eu-west", configuration=config)
    with pytest.raises(ChaosActionFailed, match=r"only 0 of 2 pods .*after 0.5s .*harness_region_ready_timeout_s"):
        actions.rollback_all(configuration=config)
    [entry] = Journal(config["harness_journal"]).entries()
    assert entry.state == "rollback_failed" and "only 0 of 2" in entry.note
    fake.region_comes_back = True
    actions.rollback_all(configuration=config)
    [entry] = Journal(config["harness_journal"]).entries()
    assert (entry.state, entry.note) == ("rolled_back", "")


def test_a_dry_run_journals_the_plan_and_touches_nothing(fake: FakeTarget, config: dict[str, Any]) -> None:
    config["harness_dry_run"] = True
    assert actions.kill_pods("app=chat", count=1, seed=2, configuration=config)["dry_run"]
    assert actions.region_outage("us-east", configuration=config)["would_take_down"] == "us-east"
    assert fake.calls == []
    assert journal_states(config) == [("kill_pods", "dry_run"), ("region_outage", "dry_run")]
    assert actions.rollback_all(configuration=config) == []


@pytest.mark.parametrize("key, value", [("harness_confirm_timeout_s", "soon"), ("harness_ready_timeout_s", -1),
                                        ("harness_poll_interval_s", 0)])
def test_a_bad_time_limit_is_an_error_naming_its_key(fake: FakeTarget, config: dict[str, Any], key: str,
                                                     value: object) -> None:
    config[key] = value
    with pytest.raises(ChaosActionFailed, match=f"configuration {key}: .* is not a positive number of seconds"):
        actions.kill_pods("app=chat", count=1, configuration=config)


def test_an_unknown_target_is_an_error(config: dict[str, Any]) -> None:
    config["harness_target"] = "mainframe"
    with pytest.raises(ChaosActionFailed, match="unknown target 'mainframe'"):
        actions.kill_pods("app=chat", count=1, configuration=config)


def test_an_unknown_undo_is_reported_and_the_others_still_run(fake: FakeTarget, config: dict[str, Any]) -> None:
    actions.engine_slowdown("app=chat,region=us-east", configuration=config)
    journal = Journal(config["harness_journal"])
    [good] = journal.entries()
    bad = journal.record(type(good)(action="mystery", target=good.target, params={}, undo={"op": "nope"}))
    results = rollback_journal(journal, config)
    assert [(r["id"], r["rolled_back"]) for r in results] == [(bad.id, False), (good.id, True)]
    assert "unknown undo 'nope'" in results[0]["error"]
