"""Stack lifecycle through the CLI: nothing is left running on any exit path,
bad input is refused before anything starts, two stacks run side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from harness.localstack.procs import wait_until
from harness.localstack.state import read_state

pytestmark = pytest.mark.integration

SMALL = Path(__file__).parent / "fixtures" / "topology-small.yaml"
HARNESS = [sys.executable, "-m", "harness"]


def processes_of(state_dir: Path) -> list[psutil.Process]:
    """Every live process started for this state dir (children inherit HARNESS_STATE_DIR)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("HARNESS_STATE_DIR") == str(state_dir) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def env_for(state_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "HARNESS_STATE_DIR": str(state_dir), **extra}


def run(args: list[str], state_dir: Path, timeout: float = 90, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HARNESS, *args], env=env_for(state_dir, **extra), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def state_dir(tmp_path: Path):
    d = tmp_path / "state"
    yield d
    # Whatever a test did, leave nothing behind.
    for proc in processes_of(d):
        proc.kill()


def test_detach_status_down_leaves_nothing(state_dir: Path) -> None:
    up = run(["stack", "up", "--detach", "--topology", str(SMALL), "--no-mesh", "--no-prometheus"], state_dir)
    assert up.returncode == 0, up.stderr
    assert len(processes_of(state_dir)) >= 3  # orchestrator + two engines
    status = run(["stack", "status", "--json"], state_dir)
    assert status.returncode == 0
    assert '"gateway"' in status.stdout and '"admin"' in status.stdout and '"pods"' in status.stdout
    down = run(["stack", "down"], state_dir)
    assert down.returncode == 0 and "stopped" in down.stderr
    assert wait_until(lambda: not processes_of(state_dir), 10)
    again = run(["stack", "status"], state_dir)
    assert again.returncode == 1 and "no stack named 'default' is running" in again.stderr


def test_two_stacks_side_by_side(state_dir: Path) -> None:
    for name in ("a", "b"):
        r = run(["stack", "up", "--detach", "--name", name, "--topology", str(SMALL), "--no-mesh",
                 "--no-prometheus"], state_dir)
        assert r.returncode == 0, r.stderr
    os.environ["HARNESS_STATE_DIR"] = str(state_dir)
    try:
        a, b = read_state("a"), read_state("b")
    finally:
        del os.environ["HARNESS_STATE_DIR"]
    assert a and b and a.admin != b.admin and a.gateway != b.gateway
    for name in ("a", "b"):
        assert run(["stack", "down", "--name", name], state_dir).returncode == 0
    assert wait_until(lambda: not processes_of(state_dir), 10)


def test_ctrl_c_in_the_foreground_stops_everything(state_dir: Path) -> None:
    proc = subprocess.Popen([*HARNESS, "stack", "up", "--topology", str(SMALL), "--no-mesh", "--no-prometheus"],
                            env=env_for(state_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: (state_dir / "stacks" / "default" / "state.json").exists(), 60)
        assert len(processes_of(state_dir)) >= 3
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_until(lambda: not processes_of(state_dir), 10)
    assert not (state_dir / "stacks" / "default" / "state.json").exists()


def test_killed_orchestrator_takes_its_children_down(state_dir: Path) -> None:
    up = run(["stack", "up", "--detach", "--topology", str(SMALL), "--no-mesh"], state_dir)
    assert up.returncode == 0, up.stderr
    os.environ["HARNESS_STATE_DIR"] = str(state_dir)
    try:
        state = read_state()
    finally:
        del os.environ["HARNESS_STATE_DIR"]
    assert state is not None
    children = psutil.Process(state.pid).children(recursive=True)
    assert len(children) >= 3  # engines and Prometheus
    os.kill(state.pid, signal.SIGKILL)  # a crash: no cleanup code runs
    assert wait_until(lambda: not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children), 10)


def test_bad_topology_is_one_line_and_starts_nothing(state_dir: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(SMALL.read_text())
    doc["deployments"][0]["replica"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    r = run(["stack", "up", "--detach", "--topology", str(bad)], state_dir)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "deployments[0].replica" in lines[0] and "unknown field" in lines[0]
    assert "Traceback" not in r.stderr
    assert not processes_of(state_dir)


def test_bad_istio_policy_is_one_line_and_starts_nothing(state_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "vs.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: chat}\nspec:\n"
        "  hosts: [llm-chat]\n  http:\n  - route:\n    - destination: {host: llm-chat}\n"
        "      match: [{headers: {x: {exact: y}}}]\n")
    r = run(["stack", "up", "--detach", "--topology", str(SMALL), "--istio", str(tmp_path)], state_dir)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "vs.yaml:9" in lines[0] and "VirtualService/chat" in lines[0]
    assert "spec.http[0].route[0].match" in lines[0] and "move 'match' up" in lines[0]
    assert not processes_of(state_dir)


def test_istio_host_missing_from_topology_is_named(state_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "vs.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: chat}\nspec:\n"
        "  hosts: [llm-chat]\n  http:\n  - route:\n    - destination: {host: nowhere}\n")
    r = run(["stack", "up", "--detach", "--topology", str(SMALL), "--istio", str(tmp_path)], state_dir)
    assert r.returncode == 2
    assert "host 'nowhere' is not a Service of the topology" in r.stderr
    assert not processes_of(state_dir)


def test_missing_prometheus_binary_is_named(state_dir: Path) -> None:
    # A PATH with python but without prometheus.
    r = run(["stack", "up", "--detach", "--topology", str(SMALL), "--no-mesh"], state_dir,
            PATH=str(Path(sys.executable).parent))
    assert r.returncode == 2
    assert "'prometheus' binary is not on PATH" in r.stderr and "apt-get install" in r.stderr
    assert not processes_of(state_dir)


def test_replica_that_cannot_start_stops_everything(state_dir: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(SMALL.read_text())
    doc["deployments"][0]["startupDelay"] = "120s"  # never ready within the timeout below
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump(doc))
    t0 = time.monotonic()
    r = run(["stack", "up", "--detach", "--topology", str(slow), "--no-mesh", "--no-prometheus",
             "--ready-timeout", "3"], state_dir)
    assert r.returncode == 1
    assert "pods not ready after 3s: chat-us-east-0" in r.stderr
    assert time.monotonic() - t0 < 60
    assert wait_until(lambda: not processes_of(state_dir), 10)
