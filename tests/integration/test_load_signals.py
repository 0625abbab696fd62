"""SIGINT and SIGTERM sent to the harness process alone (as CI cancellation
and process supervisors do, not to a terminal's process group) stop a load
run: Locust, which runs in its own session, is stopped and waited for, the
harness exits 130, and no process of the run is left."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from locust_ui import answers, start_load_ui

from harness.localstack.procs import free_port
from harness.localstack.testing import EngineProcess, engine_process, eventually

pytestmark = pytest.mark.integration
SIGNALS = [signal.SIGINT, signal.SIGTERM]


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineProcess]:
    with engine_process({"decodeStepMs": 10}, pod="sig-0") as e:
        yield e


def _harness(*args: str) -> subprocess.Popen[bytes]:
    # a session of its own: the signal below reaches the harness process only
    return subprocess.Popen([sys.executable, "-m", "harness", "load", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop_and_check(proc: subprocess.Popen[bytes], sig: signal.Signals) -> str:
    """Send `sig` to the harness alone; it must exit 130 and take every process of the run with it."""
    family = psutil.Process(proc.pid).children(recursive=True)
    assert any("locust" in " ".join(p.cmdline()) for p in family), "Locust is not running under the harness"
    proc.send_signal(sig)
    try:
        output, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for p in left:  # do not leak them into the rest of the suite, then fail
        p.kill()
    assert not left, f"left running after {sig.name}: {[p.cmdline() for p in left]}"
    assert proc.returncode == 130, output.decode(errors="replace")
    return output.decode(errors="replace")


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_headless_run_stops_on_a_signal_to_the_harness(engine: EngineProcess, sig: signal.Signals,
                                                      tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    proc = _harness("--profile", "chat_stream", "--headless", "--host", engine.url, "--duration", "10m",
                    "-u", "2", "-r", "2", "--records", str(records))
    eventually(lambda: records.is_file() and records.read_text().strip(), 40, "the first records")
    output = _stop_and_check(proc, sig)
    assert "requests " in output  # the summary of what ran is still printed


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_web_ui_stops_on_a_signal_to_the_harness(engine: EngineProcess, sig: signal.Signals) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_load_ui("--profile", "chat_stream", "--host", engine.url, port=port)
    swarm = httpx.post(f"{url}/swarm", data={"user_count": 2, "spawn_rate": 2, "host": engine.url}, timeout=5)
    assert swarm.status_code == 200
    eventually(lambda: httpx.get(f"{url}/stats/requests", timeout=2).json()["state"] == "running", 20,
               "the swarm to run")
    _stop_and_check(proc, sig)
    assert not answers(url), "the web port still answers"


@pytest.mark.parametrize("command", ["headless", "ui"])
def test_locust_ends_when_the_harness_is_killed_outright(engine: EngineProcess, command: str,
                                                        tmp_path: Path) -> None:
    if command == "ui":
        proc = start_load_ui("--profile", "chat_stream", "--host", engine.url, port=free_port())
    else:
        records = tmp_path / "records.jsonl"
        proc = _harness("--profile", "chat_stream", "--headless", "--host", engine.url, "--duration", "10m",
                        "-u", "2", "-r", "2", "--records", str(records))
        eventually(lambda: records.is_file() and records.read_text().strip(), 40, "the first records")
    family = psutil.Process(proc.pid).children(recursive=True)
    assert family
    proc.kill()  # SIGKILL: nothing to forward; the kernel tells Locust
    proc.wait()
    gone, alive = psutil.wait_procs(family, timeout=20)
    for p in alive:
        p.kill()
    assert not alive, f"left running after the harness was killed: {[p.cmdline() for p in alive]}"
