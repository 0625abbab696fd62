"""Stack lifecycle through the CLI: nothing is left running on any exit path,
bad input is refused before anything starts, two stacks run side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from harness.localstack.procs import wait_until
from harness.localstack.state import DEFAULT_STACK, StackState, read_state

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
    assert again.returncode == 2 and "no stack named 'default' is running" in again.stderr


def test_two_stacks_side_by_side(state_dir: Path) -> None:
    for name in ("a", "b"):
        r = run(["stack", "up", "--detach", "--name", name, "--topology", str(SMALL), "--no-mesh",
                 "--no-prometheus"], state_dir)
        assert r.returncode == 0, r.stderr
    a, b = read_state_in(state_dir, "a"), read_state_in(state_dir, "b")
    assert a and b and a.admin != b.admin and a.gateway != b.gateway
    for name in ("a", "b"):
        assert run(["stack", "down", "--name", name], state_dir).returncode == 0
    assert wait_until(lambda: not processes_of(state_dir), 10)


def orchestrators_of(state_dir: Path) -> list[psutil.Process]:
    """The processes that run a stack (the foreground `stack up` or a detached orchestrator)."""
    return [p for p in processes_of(state_dir) if "harness.localstack.orchestrator" in " ".join(p.cmdline())]


FOREGROUND_RUN_S = 20.0  # the foreground stack once crashed about 5 s after start


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_foreground_stack_serves_then_stops_on_signal(state_dir: Path, tmp_path: Path, sig: signal.Signals) -> None:
    """The README's first form: `stack up` in the foreground, with the mesh and
    Prometheus, stays up (status printed, gateway serving) until a signal,
    then stops everything and exits 130."""
    istio = tmp_path / "istio"
    istio.mkdir()
    (istio / "vs.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: chat}\nspec:\n"
        "  hosts: [llm-chat]\n  http:\n  - route:\n    - destination: {host: llm-chat}\n")
    out, errs = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "w") as o, open(errs, "w") as e:
        proc = subprocess.Popen([*HARNESS, "stack", "up", "--topology", str(SMALL), "--istio", str(istio)],
                                env=env_for(state_dir), stdout=o, stderr=e, text=True)
    started = time.monotonic()
    try:
        assert wait_until(lambda: "stack is up" in errs.read_text() or proc.poll() is not None, 60), errs.read_text()
        assert proc.poll() is None, errs.read_text()
        assert "gateway" in out.read_text() and "chat-us-east-0" in out.read_text()
        state = read_state_in(state_dir)
        assert state is not None and state.prometheus and state.mesh_admin
        # Ready means Prometheus has already scraped every target once.
        up = httpx.get(f"{state.prometheus}/api/v1/query", params={"query": "up"}, timeout=5).json()
        assert len(up["data"]["result"]) == 4 and all(r["value"][1] == "1" for r in up["data"]["result"])
        while time.monotonic() - started < FOREGROUND_RUN_S:
            assert proc.poll() is None, f"the foreground stack exited early:\n{errs.read_text()}"
            time.sleep(0.5)
        r = httpx.post(f"{state.gateway}/v1/completions", json={"model": "llama-3-8b", "prompt": "hi",
                                                                "max_tokens": 2}, timeout=10)
        assert r.status_code == 200
        assert len(processes_of(state_dir)) >= 5  # stack up, two engines, mesh proxy, Prometheus
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 130, errs.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in errs.read_text()
    assert wait_until(lambda: not processes_of(state_dir), 10), processes_of(state_dir)
    assert not (state_dir / "stacks" / "default" / "state.json").exists()


def test_signal_during_start_stops_everything(state_dir: Path) -> None:
    proc = subprocess.Popen([*HARNESS, "stack", "up", "--topology", str(SMALL), "--no-mesh", "--no-prometheus"],
                            env=env_for(state_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Engines running but not ready yet: the stack is half-way through its start.
        assert wait_until(lambda: len(processes_of(state_dir)) >= 2, 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_until(lambda: not processes_of(state_dir), 10)


def test_interrupted_detached_start_leaves_nothing(state_dir: Path) -> None:
    """`stack up --detach` runs the stack in its own session: if the command is
    stopped while it waits for readiness, it must stop that stack itself."""
    proc = subprocess.Popen([*HARNESS, "stack", "up", "--detach", "--topology", str(SMALL), "--no-mesh",
                             "--no-prometheus"], env=env_for(state_dir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: len(orchestrators_of(state_dir)) == 1, 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_until(lambda: not processes_of(state_dir), 10), processes_of(state_dir)


def test_two_starts_of_one_name_at_once_start_one_stack(state_dir: Path) -> None:
    """Both race for the name; the loser starts nothing and says why in one line."""
    args = [*HARNESS, "stack", "up", "--detach", "--name", "r", "--topology", str(SMALL), "--no-mesh",
            "--no-prometheus"]
    procs = [subprocess.Popen(args, env=env_for(state_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    try:
        results = [(p.wait(timeout=90), p.stderr.read() if p.stderr else "") for p in procs]
        codes = sorted(code for code, _ in results)
        assert codes == [0, 2], results
        loser = next(text for code, text in results if code == 2)
        lines = loser.strip().splitlines()
        assert len(lines) == 1 and "a stack named 'r' is already running or starting" in lines[0], lines
        assert not lines[0].startswith("error: error:")
        assert len(orchestrators_of(state_dir)) == 1
        engines = [p for p in processes_of(state_dir) if "harness.localstack.engine" in " ".join(p.cmdline())]
        assert len(engines) == 2  # one stack's two pods, not four
        # The running stack is the one its state file names, and `down` stops all of it.
        assert run(["stack", "down", "--name", "r"], state_dir).returncode == 0
        assert wait_until(lambda: not processes_of(state_dir), 10)
        # The name is free again.
        again = run(["stack", "up", "--detach", "--name", "r", "--topology", str(SMALL), "--no-mesh",
                     "--no-prometheus"], state_dir)
        assert again.returncode == 0, again.stderr
        assert run(["stack", "down", "--name", "r"], state_dir).returncode == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert wait_until(lambda: not processes_of(state_dir), 10)


def test_a_running_name_is_refused_in_the_foreground_too(state_dir: Path) -> None:
    up = run(["stack", "up", "--detach", "--topology", str(SMALL), "--no-mesh", "--no-prometheus"], state_dir)
    assert up.returncode == 0, up.stderr
    try:
        r = run(["stack", "up", "--topology", str(SMALL), "--no-mesh", "--no-prometheus"], state_dir)
        assert r.returncode == 2
        assert r.stderr.strip().splitlines() == [
            "error: --name: a stack named 'default' is already running or starting "
            "(fix: run 'harness stack down --name default' or choose another --name)"]
        assert len(orchestrators_of(state_dir)) == 1
    finally:
        run(["stack", "down"], state_dir)


def read_state_in(state_dir: Path, name: str = DEFAULT_STACK) -> StackState | None:
    """The state of stack `name` under `state_dir`; the process environment is left
    as it was (a session-wide stack of the product suites reads it too)."""
    old = os.environ.get("HARNESS_STATE_DIR")
    os.environ["HARNESS_STATE_DIR"] = str(state_dir)
    try:
        return read_state(name)
    finally:
        if old is None:
            del os.environ["HARNESS_STATE_DIR"]
        else:
            os.environ["HARNESS_STATE_DIR"] = old


def test_killed_orchestrator_takes_its_children_down(state_dir: Path) -> None:
    up = run(["stack", "up", "--detach", "--topology", str(SMALL), "--no-mesh"], state_dir)
    assert up.returncode == 0, up.stderr
    state = read_state_in(state_dir)
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
