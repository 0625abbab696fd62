"""`harness load` refuses, before starting anything, a load the running local
stack cannot carry: one line with the measured capacity and the fix, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.localstack.capacity import stream_capacity
from harness.localstack.state import StackState, write_state
from harness.localstack.topology import load_topology

pytestmark = pytest.mark.integration

REFERENCE = Path(__file__).parents[2] / "reference-stack" / "local" / "topology.yaml"


def test_harness_load_refuses_more_users_than_the_stack_carries(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path))
    # the state a running `harness stack up` leaves; nothing needs to listen for the check
    write_state(StackState(name="default", pid=os.getpid(), gateway="http://127.0.0.1:9", admin="",
                           prometheus="", topology=str(REFERENCE)))
    capacity = stream_capacity(load_topology(REFERENCE))[0]
    p = subprocess.run([sys.executable, "-m", "harness", "load", "--profile", "chat_stream", "--headless",
                        "--duration", "1s", "--users", str(capacity * 3)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2, p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in p.stderr
    assert "--users" in lines[0] and f"({capacity}:" in lines[0] and f"--users {capacity} or fewer" in lines[0]
