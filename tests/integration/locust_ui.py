"""Starting `harness load ui` for a test and knowing when its web UI answers."""

from __future__ import annotations

import subprocess
import sys

import httpx

from harness.localstack.testing import eventually


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_load_ui(*args: str, port: int) -> subprocess.Popen[bytes]:
    """`harness load ui ARGS --web-port PORT` in a session of its own (a signal
    sent to it reaches the harness process only), once its UI answers."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", "load", "ui", *args, "--web-port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        eventually(lambda: answers(f"http://127.0.0.1:{port}"), 40, "the Locust UI to answer")
    except AssertionError:
        proc.kill()
        proc.wait()
        raise
    return proc
