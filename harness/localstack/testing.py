"""Start and stop a local stack from tests and scripts (detached, tracked by PID).

    with running_stack(topology=Path("small.yaml"), mesh=False) as stack:
        httpx.get(f"{stack.state.admin}/pods")

The stack runs in its own process group under a private state directory, so
tests never touch a user's stack; leaving the block stops it and checks that
every process it started is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from harness.localstack.detached import start_detached, stop_detached
from harness.localstack.procs import wait_until
from harness.localstack.stack import DEFAULT_ISTIO_DIR, StackOptions
from harness.localstack.state import StackState
from harness.localstack.topology import DEFAULT_TOPOLOGY

__all__ = ["StackHandle", "running_stack", "eventually", "engine_process", "EngineProcess", "serve_in_thread"]


@dataclass
class StackHandle:
    state: StackState
    options: StackOptions

    def pods(self, selector: str = "", ready: bool = False) -> list[dict[str, Any]]:
        params = {"selector": selector, "ready": "true" if ready else "false"}
        pods: list[dict[str, Any]] = httpx.get(f"{self.state.admin}/pods", params=params, timeout=10).json()["pods"]
        return pods

    def descendants(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.state.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


@contextlib.contextmanager
def running_stack(
    topology: Path = DEFAULT_TOPOLOGY,
    istio: list[Path] | None = None,
    prometheus: bool = True,
    mesh: bool = True,
    state_dir: Path | None = None,
    ready_timeout: float = 60.0,
) -> Iterator[StackHandle]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    old = os.environ.get("HARNESS_STATE_DIR")
    if state_dir is not None:
        os.environ["HARNESS_STATE_DIR"] = str(state_dir)
    opts = StackOptions(name=name, topology=topology, istio=istio or [DEFAULT_ISTIO_DIR],
                        prometheus=prometheus, mesh=mesh, ready_timeout=ready_timeout)
    try:
        state = start_detached(opts)
        handle = StackHandle(state, opts)
        children = handle.descendants()
        try:
            yield handle
        finally:
            children += handle.descendants()
            stop_detached(name)
            leftover = [pid for pid in set(children) if psutil.pid_exists(pid)
                        and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
            if not wait_until(lambda: not any(psutil.pid_exists(p) for p in leftover), 10):
                raise AssertionError(f"processes left running after stack down: {leftover}")
    finally:
        if state_dir is not None:
            if old is None:
                os.environ.pop("HARNESS_STATE_DIR", None)
            else:
                os.environ["HARNESS_STATE_DIR"] = old


def eventually(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1) -> object:
    """Poll until `predicate` is truthy; fail naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


@dataclass
class EngineProcess:
    url: str
    process: subprocess.Popen[str]

    def fault(self, **body: Any) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.post(f"{self.url}/admin/faults", json=body, timeout=5).json()
        return answer


@contextlib.contextmanager
def engine_process(params: dict[str, Any] | None = None, pod: str = "engine-test-0",
                   startup_delay: float = 0.0, tls: tuple[str, str] | None = None) -> Iterator[EngineProcess]:
    """One engine process on a free loopback port, ended by its PID afterwards
    (serving https with `tls` = (certificate PEM, key PEM))."""
    tls_args = ["--tls-cert", tls[0], "--tls-key", tls[1]] if tls else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.localstack.engine", "--port", "0", "--pod", pod,
         "--params", json.dumps(params or {}), "--startup-delay", str(startup_delay), *tls_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError(f"engine did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield EngineProcess(f"{'https' if tls else 'http'}://127.0.0.1:{json.loads(line)['port']}", proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def serve_in_thread(app: Any, ssl_context: Any = None) -> Iterator[str]:
    """Serve an aiohttp Application on a free loopback port from a thread of
    this process (for test doubles of remote APIs); yields its base URL
    (https when an `ssl.SSLContext` is given)."""
    import asyncio
    import threading

    from aiohttp import web

    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
        holder["runner"], holder["port"] = runner, runner.addresses[0][1]
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the test server did not start")
    try:
        yield f"{'https' if ssl_context is not None else 'http'}://127.0.0.1:{holder['port']}"
    finally:
        asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
