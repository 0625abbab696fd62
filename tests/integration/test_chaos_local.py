"""Each chaos action and its rollback against a running local stack, the
run-level guarantees (rollback after an exception, after SIGINT, from a
crashed run's journal), guards, dry runs, and fault confirmation failing
when an injection silently does not happen."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.chaos import actions
from harness.chaos.errors import ChaosActionFailed
from harness.chaos.journal import Journal
from harness.chaos.runner import ChaosRun
from harness.localstack.testing import StackHandle, eventually
from harness.targets.base import IstioKind
from harness.targets.factory import register_target, unregister_target
from harness.targets.local import LocalTarget

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures"
V1_EAST = "app=chat,version=v1,region=us-east"
CHAT = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


WITH_PROMETHEUS = False  # read by the mesh_stack fixture (conftest.py)


def ready(mesh_stack: StackHandle, selector: str) -> list[str]:
    return sorted(p["name"] for p in mesh_stack.pods(selector=selector, ready=True))


def vs(mesh_stack: StackHandle) -> dict:
    return httpx.get(f"{mesh_stack.state.mesh_admin}/apis/networking.istio.io/v1/namespaces/llm/virtualservices/chat").json()


def pinned_rule(mesh_stack: StackHandle) -> dict:
    return next(r for r in vs(mesh_stack)["spec"]["http"] if r["name"] == "pinned-v1")


def faults(mesh_stack: StackHandle, pod: str) -> dict:
    url = next(p["url"] for p in mesh_stack.pods() if p["name"] == pod)
    return httpx.get(f"{url}/admin/faults").json()["active"]


def ask(mesh_stack: StackHandle, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{mesh_stack.state.gateway}/v1/chat/completions", json=CHAT, headers=headers or {}, timeout=30)


def states(chaos_config: dict) -> list[str]:
    return [e.state for e in Journal(chaos_config["harness_journal"]).entries()]


# -- actions and their rollbacks --------------------------------------------------------

def test_kill_pods_and_rollback_waits_for_replacements(mesh_stack: StackHandle, chaos_config: dict) -> None:
    before = ready(mesh_stack, V1_EAST)
    assert len(before) == 2
    out = actions.kill_pods(V1_EAST, count=1, seed=3, configuration=chaos_config)
    assert len(out["killed"]) == 1 and out["killed"][0] in before
    assert states(chaos_config) == ["confirmed"]
    actions.rollback_all(configuration=chaos_config)
    assert len(ready(mesh_stack, V1_EAST)) == 2
    assert states(chaos_config) == ["rolled_back"]


def test_blast_radius_cap_refuses_and_touches_nothing(mesh_stack: StackHandle, chaos_config: dict) -> None:
    from chaoslib.exceptions import ActivityFailed

    before = ready(mesh_stack, V1_EAST)
    # 3 of the workload's 5 chat pods is 60%
    with pytest.raises(ActivityFailed, match="3 of the workload's 5 pods is 60%, above the blast-radius cap of 50%"):
        actions.kill_pods("app=chat,region=us-east", count=3, configuration=chaos_config)
    assert ready(mesh_stack, V1_EAST) == before and states(chaos_config) == []


def test_selector_matching_nothing_is_an_error(chaos_config: dict) -> None:
    from chaoslib.exceptions import ActivityFailed

    with pytest.raises(ActivityFailed, match="matches no pod"):
        actions.kill_pods("app=nothing-here", count=1, configuration=chaos_config)
    assert states(chaos_config) == []


def test_engine_faults_are_set_confirmed_and_cleared(mesh_stack: StackHandle, chaos_config: dict) -> None:
    out = actions.engine_slowdown("app=chat,region=us-west", factor=4, count=1, configuration=chaos_config)
    pod = out["pods"][0]
    assert faults(mesh_stack, pod) == {"slow": {"kind": "slow", "factor": 4.0}}
    actions.error_rate("app=chat,region=us-west", rate=1.0, status=500, count=1, configuration=chaos_config)
    assert set(faults(mesh_stack, pod)) == {"slow", "error_rate"}
    actions.rollback_all(configuration=chaos_config)
    assert faults(mesh_stack, pod) == {}


def test_gpu_oom_kills_the_engine_and_the_pod_comes_back(mesh_stack: StackHandle, chaos_config: dict) -> None:
    pod = "chat-v1-eu-west-0"
    restarts = next(p["restarts"] for p in mesh_stack.pods() if p["name"] == pod)
    actions.gpu_oom("app=chat,region=eu-west", count=1, exit_after_s=0.5, configuration=chaos_config)
    eventually(lambda: next(p["restarts"] for p in mesh_stack.pods() if p["name"] == pod) > restarts, 15,
               "the engine to exit and restart")
    actions.rollback_all(configuration=chaos_config)  # returns once the engine is ready again
    assert pod in ready(mesh_stack, "app=chat,region=eu-west")


def test_inject_abort_on_one_route_and_restore(mesh_stack: StackHandle, chaos_config: dict) -> None:
    original = vs(mesh_stack)
    actions.inject_abort("chat", http_status=503, percentage=100, route="pinned-v1", configuration=chaos_config)
    r = ask(mesh_stack, {"x-version": "v1"})
    assert (r.status_code, r.text) == (503, "fault filter abort")
    assert ask(mesh_stack).status_code == 200  # other routes untouched
    actions.rollback_all(configuration=chaos_config)
    assert ask(mesh_stack, {"x-version": "v1"}).status_code == 200
    assert vs(mesh_stack)["spec"] == original["spec"]


def test_inject_latency_on_a_header_match(mesh_stack: StackHandle, chaos_config: dict) -> None:
    actions.inject_latency("chat", fixed_delay="1s", header={"x-chaos": "slow"}, configuration=chaos_config)
    assert vs(mesh_stack)["spec"]["http"][0]["name"] == "harness-fault"
    t0 = time.monotonic()
    assert ask(mesh_stack, {"x-chaos": "slow"}).status_code == 200
    assert time.monotonic() - t0 >= 0.9
    actions.rollback_all(configuration=chaos_config)
    assert all(r.get("name") != "harness-fault" for r in vs(mesh_stack)["spec"]["http"])


def test_region_outage_and_rollback(mesh_stack: StackHandle, chaos_config: dict) -> None:
    actions.region_outage("eu-west", mode="kill", configuration=chaos_config)
    regions = httpx.get(f"{mesh_stack.state.admin}/regions").json()["regions"]
    assert {r["name"]: r["state"] for r in regions}["eu-west"] == "kill"
    actions.rollback_all(configuration=chaos_config)  # returns once the region's pods are ready again
    assert ready(mesh_stack, "region=eu-west") == ["chat-v1-eu-west-0"]
    assert states(chaos_config) == ["rolled_back"]


def test_dry_run_touches_nothing(mesh_stack: StackHandle, chaos_config: dict) -> None:
    chaos_config["harness_dry_run"] = True
    before = ready(mesh_stack, V1_EAST)
    out = actions.kill_pods(V1_EAST, count=1, configuration=chaos_config)
    assert out["dry_run"] and len(out["would_kill"]) == 1
    out = actions.inject_abort("chat", route="pinned-v1", configuration=chaos_config)
    assert out["dry_run"]
    assert ready(mesh_stack, V1_EAST) == before and "fault" not in pinned_rule(mesh_stack)
    assert states(chaos_config) == ["dry_run", "dry_run"]


class DroppingWrites(LocalTarget):
    """The local stack, but Istio writes are accepted and dropped (as when an
    admission webhook or a wrong namespace swallows them)."""

    def replace_istio(self, kind: IstioKind, name: str, obj: dict[str, Any],
                      namespace: str | None = None) -> dict[str, Any]:
        return obj


def test_fault_confirmation_fails_when_the_injection_silently_does_not_happen(chaos_config: dict) -> None:
    register_target("local-dropping-writes", lambda cfg: DroppingWrites.from_stack(cfg["harness_stack"]))
    try:
        config = {**chaos_config, "harness_target": "local-dropping-writes", "harness_confirm_timeout_s": 1}
        with pytest.raises(ChaosActionFailed, match="did not take effect within 1s"):
            actions.inject_abort("chat", route="pinned-v1", configuration=config)
    finally:
        unregister_target("local-dropping-writes")
    assert states(chaos_config) == ["failed"]


# -- run-level guarantees ----------------------------------------------------------------

def test_exception_in_the_method_still_rolls_back(mesh_stack: StackHandle, tmp_path: Path) -> None:
    sys.path.insert(0, str(FIXTURES / "chaos"))
    try:
        outcome = ChaosRun(FIXTURES / "chaos" / "abort-then-boom.yaml", stack=mesh_stack.state.name,
                           journal_path=tmp_path / "j.jsonl").run()
    finally:
        sys.path.remove(str(FIXTURES / "chaos"))
    assert outcome.rollbacks and all(r["rolled_back"] for r in outcome.rollbacks)
    assert "fault" not in pinned_rule(mesh_stack)
    assert ask(mesh_stack, {"x-version": "v1"}).status_code == 200


def chaos_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", "chaos", *args]


def start_run(mesh_stack: StackHandle, experiment: str, journal: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(FIXTURES / "chaos")}
    return subprocess.Popen(chaos_cli("run", str(FIXTURES / "chaos" / experiment), "--stack", mesh_stack.state.name,
                                      "--journal", str(journal)),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", ["before-the-fault", "fault-in-place", "fault-in-place-signalled-twice"])
def test_a_signal_stops_the_run_promptly_rolls_back_and_exits_130(
        mesh_stack: StackHandle, tmp_path: Path, sig: signal.Signals, moment: str) -> None:
    import psutil

    journal = tmp_path / "j.jsonl"
    # before the fault: a 20 s wait comes first; else the abort comes first, then a 60 s wait
    proc = start_run(mesh_stack, "wait-then-abort.yaml" if moment == "before-the-fault" else "abort-then-wait.yaml",
                     journal)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "running against the local target" in first, first
        if moment != "before-the-fault":
            eventually(lambda: "confirmed" in [e.state for e in Journal(journal).entries()], 40, "the fault in place")
            assert ask(mesh_stack, {"x-version": "v1"}).status_code == 503
        children = psutil.Process(proc.pid).children(recursive=True)
        sent = time.monotonic()
        proc.send_signal(sig)
        if moment == "fault-in-place-signalled-twice":  # an impatient second Ctrl-C must not cut the rollback
            time.sleep(0.05)
            proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, first + output
    assert stopped_after < 15, f"the run went on for {stopped_after:.1f}s after the signal"  # not the 20 s / 60 s waits
    assert "interrupted" in output
    _, alive = psutil.wait_procs(children, timeout=5)
    left = [c for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]  # a zombie is dead
    assert not left, f"processes of the run left behind: {left}"
    if moment == "before-the-fault":
        assert not journal.exists() and "fault journal" not in output
    else:
        assert [e.state for e in Journal(journal).entries()] == ["rolled_back"]
        assert f"fault journal: {journal}" in output
    assert "fault" not in pinned_rule(mesh_stack)
    assert ask(mesh_stack, {"x-version": "v1"}).status_code == 200


def test_a_refused_action_fails_the_run(mesh_stack: StackHandle, tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    p = subprocess.run(chaos_cli("run", str(FIXTURES / "chaos" / "kill-too-many.yaml"), "--stack",
                                 mesh_stack.state.name, "--journal", str(journal)),
                       capture_output=True, text=True, timeout=120, env={**os.environ})
    assert p.returncode == 1, p.stdout + p.stderr
    assert ("experiment kill-too-many.yaml: failed: action kill-too-many: kill_pods: 3 of the workload's 5 pods "
            "is 60%, above the blast-radius cap of 50% (configuration harness_max_blast_percent)") in p.stdout
    assert "fault journal" not in p.stdout and not journal.exists()  # nothing was journaled, no path to print
    assert len(ready(mesh_stack, V1_EAST)) == 2


def test_a_failed_confirmation_fails_the_run_and_is_rolled_back(mesh_stack: StackHandle, tmp_path: Path) -> None:
    register_target("local-dropping-writes", lambda cfg: DroppingWrites.from_stack(cfg["harness_stack"]))
    experiment = tmp_path / "abort.yaml"
    experiment.write_text((FIXTURES / "chaos" / "abort-then-boom.yaml").read_text().split("  - type: action\n    name: boom")[0]
                          + "configuration: {harness_confirm_timeout_s: 1}\n")
    try:
        outcome = ChaosRun(experiment, target="local-dropping-writes", stack=mesh_stack.state.name,
                           journal_path=tmp_path / "j.jsonl").run()
    finally:
        unregister_target("local-dropping-writes")
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert "action abort-pinned: inject_abort: the fault did not take effect within 1s" in outcome.reason
    assert [r["rolled_back"] for r in outcome.rollbacks] == [True]


def test_no_running_stack_is_invalid_input(tmp_path: Path) -> None:
    p = subprocess.run(chaos_cli("run", str(FIXTURES / "chaos" / "kill-one.yaml"), "--stack", "no-such-stack",
                                 "--journal", str(tmp_path / "j.jsonl")),
                       capture_output=True, text=True, timeout=60, env={**os.environ})
    assert p.returncode == 2, p.stdout + p.stderr
    [line] = p.stderr.strip().splitlines()
    assert line.startswith("error: --stack: no local stack named 'no-such-stack' is running"), line
    assert "fault journal" not in p.stdout and not (tmp_path / "j.jsonl").exists()


def test_rollback_of_a_file_that_is_not_a_journal_is_an_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not the faults you are looking for\n")
    p = subprocess.run(chaos_cli("rollback", "--journal", str(notes)), capture_output=True, text=True, timeout=60,
                       env={**os.environ})
    assert p.returncode == 2, p.stdout + p.stderr
    [line] = p.stderr.strip().splitlines()
    assert f"{notes}:1: --journal: not a fault journal entry" in line, line


def test_rollback_replays_a_crashed_runs_journal(mesh_stack: StackHandle, chaos_config: dict) -> None:
    actions.inject_abort("chat", route="pinned-v1", configuration=chaos_config)
    assert ask(mesh_stack, {"x-version": "v1"}).status_code == 503
    # the run "crashed" here: nothing rolled back; the CLI replays the journal
    p = subprocess.run([sys.executable, "-m", "harness", "chaos", "rollback", "--journal",
                        chaos_config["harness_journal"]], capture_output=True, text=True, timeout=60,
                       env={**os.environ})
    assert p.returncode == 0, p.stdout + p.stderr
    assert "rollback inject_abort" in p.stdout and "ok" in p.stdout
    assert ask(mesh_stack, {"x-version": "v1"}).status_code == 200


def test_dry_run_cli_prints_the_plan(mesh_stack: StackHandle, tmp_path: Path) -> None:
    journal = tmp_path / "dry.jsonl"
    p = subprocess.run([sys.executable, "-m", "harness", "chaos", "run", str(FIXTURES / "chaos" / "kill-one.yaml"),
                        "--stack", mesh_stack.state.name, "--dry-run", "--journal", str(journal)],
                       capture_output=True, text=True, timeout=120, env={**os.environ})
    assert p.returncode == 0, p.stdout + p.stderr
    assert [e.state for e in Journal(journal).entries()] == ["dry_run"]
    assert len(ready(mesh_stack, V1_EAST)) == 2


def test_invalid_experiment_is_one_line_and_injects_nothing(mesh_stack: StackHandle, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((FIXTURES / "chaos" / "kill-one.yaml").read_text().replace("count: 1", "counts: 1"))
    p = subprocess.run([sys.executable, "-m", "harness", "chaos", "run", str(bad), "--stack", mesh_stack.state.name],
                       capture_output=True, text=True, timeout=60, env={**os.environ})
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "kill_pods() has no argument 'counts'" in lines[0] and "bad.yaml" in lines[0]
    assert len(ready(mesh_stack, V1_EAST)) == 2


def test_endpoint_health_probe_sees_a_hung_engine(mesh_stack: StackHandle, chaos_config: dict) -> None:
    from chaoslib.exceptions import ActivityFailed

    from harness.chaos import probes

    selector = "app=chat,region=us-west"
    assert probes.endpoint_health(selector, configuration=chaos_config) == 1.0
    assert probes.pods_ready(selector, configuration=chaos_config) == 1
    url = next(p["url"] for p in mesh_stack.pods(selector=selector))
    httpx.post(f"{url}/admin/faults", json={"kind": "hang"}).raise_for_status()
    try:
        assert probes.endpoint_health(selector, configuration=chaos_config) == 0.0
    finally:
        httpx.delete(f"{url}/admin/faults/hang").raise_for_status()
    assert probes.endpoint_health(selector, configuration=chaos_config) == 1.0
    with pytest.raises(ActivityFailed, match="matches no pod"):
        probes.pods_ready("app=nothing", configuration=chaos_config)
