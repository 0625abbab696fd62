"""The README's exit-code table, row by row, through the `harness` command.

0 ok, 1 failed, 2 bad input (one line, nothing started), 3 thresholds missed /
inconclusive, 130 interrupted (SIGINT or SIGTERM). Rows whose run needs a
whole stack, experiment or certification are asserted where that run already
happens: `stack` 1 and 130 in test_stack_lifecycle.py, `load` 130 in
test_load_signals.py, `chaos` 0, 1 and 130 in test_chaos_local.py, `certify`
1 in test_certify_cli.py; `certify` 3 and 130 here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.exitcodes import ExitCode
from harness.localstack.procs import wait_until
from harness.localstack.testing import EngineProcess, engine_process

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SMALL = Path(__file__).parent / "fixtures" / "topology-small.yaml"


def harness(*args: str, state_dir: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HARNESS_STATE_DIR": str(state_dir)}, cwd=state_dir.parent)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stdout + result.stderr
    assert lines[0].startswith("error: ") and not lines[0].startswith("error: error:"), lines[0]
    return lines[0]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineProcess]:
    with engine_process({"decodeStepMs": 2}) as e:
        yield e


# -- validate -----------------------------------------------------------------

def test_validate_ok_failed_and_nothing_to_check(state_dir: Path, tmp_path: Path) -> None:
    assert harness("validate", str(ROOT / "reference-stack" / "istio"), state_dir=state_dir).returncode == ExitCode.OK
    bad = tmp_path / "istio"
    bad.mkdir()
    (bad / "vs.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: chat}\nspec:\n"
        "  hosts: [llm-chat]\n  http:\n  - route:\n    - destination: {host: llm-chat, subset: v9}\n")
    assert harness("validate", str(bad), state_dir=state_dir).returncode == ExitCode.FAILED
    empty = tmp_path / "empty"
    empty.mkdir()
    r = harness("validate", str(empty), state_dir=state_dir)
    assert r.returncode == ExitCode.BAD_INPUT and "nothing to validate" in one_error_line(r)


# -- stack and smoke ----------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("stack", "up", "--detach", "--topology", "missing.yaml"),
    ("stack", "status", "--name", "nothing-here"),
    ("smoke", "--topology", "missing.yaml"),
], ids=["stack-up-missing-topology", "stack-status-no-such-stack", "smoke-missing-topology"])
def test_stack_and_smoke_bad_input(state_dir: Path, args: tuple[str, ...]) -> None:
    r = harness(*args, state_dir=state_dir)
    assert r.returncode == ExitCode.BAD_INPUT
    one_error_line(r)


def test_usage_errors_are_bad_input(state_dir: Path) -> None:
    assert harness("stack", "up", "--no-such-option", state_dir=state_dir).returncode == ExitCode.BAD_INPUT


def test_stack_down_of_nothing_is_ok(state_dir: Path) -> None:
    r = harness("stack", "down", "--name", "nothing-here", state_dir=state_dir)
    assert r.returncode == ExitCode.OK and "no stack named 'nothing-here' is running" in r.stderr


SMOKE_ISTIO = ("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: chat}\nspec:\n"
               "  hosts: [llm-chat]\n  http:\n  - route:\n    - destination: {host: llm-chat}\n")


def _smoke_args(tmp_path: Path) -> list[str]:
    istio = tmp_path / "istio"
    istio.mkdir(exist_ok=True)
    (istio / "vs.yaml").write_text(SMOKE_ISTIO)
    return ["smoke", "--topology", str(SMALL), "--istio", str(istio), "--no-prometheus"]


def test_smoke_ok(state_dir: Path, tmp_path: Path) -> None:
    ok = harness(*_smoke_args(tmp_path), state_dir=state_dir, timeout=120)
    assert ok.returncode == ExitCode.OK, ok.stdout + ok.stderr
    assert "smoke run passed" in ok.stdout
    assert wait_until(lambda: not stack_processes_of(state_dir), 10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_smoke_interrupted_while_starting_leaves_nothing(state_dir: Path, tmp_path: Path, signum: int) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness", *_smoke_args(tmp_path)],
                            env={**os.environ, "HARNESS_STATE_DIR": str(state_dir)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        # engines are starting: the signal now stops the stack half-way
        assert wait_until(lambda: engines_of(state_dir) or proc.poll() is not None, 60)
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == ExitCode.INTERRUPTED
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    # not only the engines: the orchestrator and the mesh proxy of that stack too
    assert wait_until(lambda: not stack_processes_of(state_dir), 10), \
        [p.cmdline() for p in stack_processes_of(state_dir)]


def stack_processes_of(state_dir: Path) -> list[psutil.Process]:
    """Every live process started under this state dir (the stack's parts inherit it)."""
    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if p.environ().get("HARNESS_STATE_DIR") == str(state_dir) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


def engines_of(state_dir: Path) -> list[psutil.Process]:
    found = []
    for p in stack_processes_of(state_dir):
        try:
            if "harness.localstack.engine" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:
            continue
    return found


# -- load ---------------------------------------------------------------------

def test_load_ok_threshold_missed_and_bad_input(state_dir: Path, engine: EngineProcess) -> None:
    run = ("load", "--profile", "chat_stream", "--headless", "--host", engine.url, "--duration", "2s", "-u", "2",
           "-r", "2")
    ok = harness(*run, state_dir=state_dir)
    assert ok.returncode == ExitCode.OK, ok.stdout + ok.stderr
    missed = harness(*run, "--max-ttft-p95-ms", "0.001", state_dir=state_dir)
    assert missed.returncode == ExitCode.INCONCLUSIVE, missed.stdout + missed.stderr
    bad = harness("load", "--profile", "nope", "--headless", "--host", engine.url, state_dir=state_dir)
    assert bad.returncode == ExitCode.BAD_INPUT
    one_error_line(bad)


# -- chaos --------------------------------------------------------------------

def test_chaos_missing_experiment_is_bad_input(state_dir: Path) -> None:
    r = harness("chaos", "run", "missing.yaml", state_dir=state_dir)
    assert r.returncode == ExitCode.BAD_INPUT
    one_error_line(r)


def test_chaos_run_without_a_stack_is_bad_input(state_dir: Path) -> None:
    r = harness("chaos", "run", str(ROOT / "experiments" / "pod-kill.yaml"), "--stack", "nothing-here",
                state_dir=state_dir)
    assert r.returncode == ExitCode.BAD_INPUT


# -- certify ------------------------------------------------------------------

def test_certify_list_ok_and_unknown_requirement_bad_input(state_dir: Path) -> None:
    assert harness("certify", "--list", state_dir=state_dir).returncode == ExitCode.OK
    r = harness("certify", "--requirement", "no.such-requirement", state_dir=state_dir)
    assert r.returncode == ExitCode.BAD_INPUT
    assert "no.such-requirement" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_certify_interrupted_stops_its_whole_stack(state_dir: Path, tmp_path: Path, signum: int) -> None:
    """Interrupted while it runs a requirement: exit 130, and nothing of the
    stack it started is left (orchestrator, mesh proxy, Prometheus, engines)."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", "certify", "--requirement", "routing.canary-split",
                             "--reports", str(tmp_path / "reports")],
                            env={**os.environ, "HARNESS_STATE_DIR": str(state_dir)}, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: dict[int, psutil.Process] = {}

    def stack() -> set[str]:
        """The parts of the stack certify runs (under a state dir of its own: found by descent)."""
        try:
            for c in psutil.Process(proc.pid).children(recursive=True):
                seen.setdefault(c.pid, c)
        except psutil.Error:
            pass
        kinds = set()
        for p in seen.values():
            try:
                line = " ".join(p.cmdline())
            except psutil.Error:
                continue
            kinds |= {k for k in ("harness.localstack.engine", "harness.localstack.mesh", "prometheus")
                      if k in line}
        return kinds

    try:
        # a requirement is running once the whole stack is up
        assert wait_until(lambda: len(stack()) == 3 or proc.poll() is not None, 120), stack()
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == ExitCode.INTERRUPTED
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(seen) >= 4  # orchestrator, proxy, Prometheus and engines at the least
    assert wait_until(lambda: not any(_alive(p) for p in seen.values()), 15), \
        [(p.pid, p.cmdline()) for p in seen.values() if _alive(p)]


@pytest.mark.slow
def test_certify_inconclusive_is_exit_3(state_dir: Path, tmp_path: Path) -> None:
    """Nothing failed, something inconclusive: a TTFT SLO no stack keeps (1 ms),
    judged on a stack without Prometheus, so the stack's own lag cannot be
    observed and the failed TTFT figure cannot be vouched for."""
    slo = tmp_path / "impossible.yaml"
    slo.write_text((ROOT / "reference-stack" / "slo" / "reference.yaml").read_text()
                   .replace("ttftP95: 1s", "ttftP95: 1ms", 1))
    up = harness("stack", "up", "--detach", "--name", "inconclusive", "--no-prometheus", state_dir=state_dir,
                 timeout=120)
    assert up.returncode == ExitCode.OK, up.stdout + up.stderr
    try:
        r = harness("certify", "--stack-name", "inconclusive", "--requirement", "latency.ttft-slo", "--slo", str(slo),
                    "--duration-scale", "0.5", "--reports", str(tmp_path / "reports"), state_dir=state_dir,
                    timeout=180)
    finally:
        down = harness("stack", "down", "--name", "inconclusive", state_dir=state_dir, timeout=60)
    assert r.returncode == ExitCode.INCONCLUSIVE, r.stdout + r.stderr
    assert "inconclusive" in r.stdout and "event-loop lag was not observed" in r.stdout
    assert down.returncode == ExitCode.OK


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_certify_kube_without_kubeconfig_is_bad_input(state_dir: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "harness", "certify", "--target", "kube", "--gateway",
                        "http://127.0.0.1:9", "--prometheus", "http://127.0.0.1:9", "--reports", str(tmp_path)],
                       capture_output=True, text=True, timeout=90,
                       env={**os.environ, "KUBECONFIG": str(tmp_path / "none"), "HARNESS_STATE_DIR": str(state_dir)})
    assert r.returncode == ExitCode.BAD_INPUT
    one_error_line(r)
