"""Session-wide guard: the test run fails when a process it started outlives it.

Every process the tests start inherits a token in its environment, so one that
was detached (its own session) or orphaned (its parent killed, re-parented to
init) is still found at the end, beside the ordinary descendants of pytest.
Leftovers are named, then killed, and the run's exit status becomes "failed".
"""

from __future__ import annotations

import os
import uuid

import psutil
import pytest

from harness.localstack.procs import wait_until

SESSION_TOKEN_ENV = "HARNESS_TEST_SESSION"
LEFTOVER_GRACE_S = 5.0  # processes still shutting down when the last test ends


_TOKEN = pytest.StashKey[str]()


def _started_by_this_session(token: str) -> list[psutil.Process]:
    me = psutil.Process()
    found = {p.pid: p for p in me.children(recursive=True)}
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me.pid or proc.pid in found:
            continue
        try:
            if proc.environ().get(SESSION_TOKEN_ENV) == token:
                found[proc.pid] = proc
        except psutil.Error:
            continue
    alive = []
    for proc in found.values():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.Error:
            continue
    return alive


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid}: {' '.join(proc.cmdline())[:160]}"
    except psutil.Error:
        return f"pid {proc.pid}: (gone)"


def pytest_configure(config: pytest.Config) -> None:
    # A fresh token even inside another test session (a pytest run started by
    # a test): this session must judge only what it started itself.
    config.stash[_TOKEN] = os.environ[SESSION_TOKEN_ENV] = uuid.uuid4().hex


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    token = session.config.stash[_TOKEN]
    if not wait_until(lambda: not _started_by_this_session(token), LEFTOVER_GRACE_S, interval=0.2):
        leftovers = _started_by_this_session(token)
        lines = [_describe(p) for p in leftovers]
        for proc in leftovers:
            try:
                proc.kill()
            except psutil.Error:
                pass
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "processes started by the tests outlived them (now killed):\n  " + "\n  ".join(lines)
        if reporter is not None:
            reporter.write_line(message, red=True)
        else:
            print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
