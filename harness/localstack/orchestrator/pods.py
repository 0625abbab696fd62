"""One pod of the local stack: an engine process with Kubernetes-like lifecycle.

A pod owns its listening socket's port, starts the engine process with the
socket as an inherited fd, and restarts the process in place when it exits
on its own (a container restart: `restarts` grows, with CrashLoopBackOff
delays). Deleting a pod is different: it ends for good and the Deployment
replaces it with a new pod, as a ReplicaSet does.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.localstack.procs import bind_listener, python_module_command, set_parent_death_signal
from harness.localstack.topology import Deployment, RestartBackoff

__all__ = ["Pod", "PodPhase", "crashloop_delay"]

ENGINE_MODULE = "harness.localstack.engine"


class PodPhase:
    PENDING = "Pending"  # process starting or model loading: not ready yet
    RUNNING = "Running"
    CRASHLOOP = "CrashLoopBackOff"  # waiting out a restart back-off
    TERMINATING = "Terminating"
    STOPPED = "Stopped"  # its region is down (kill mode)
    FROZEN = "Frozen"  # its region is blackholed (processes stopped with SIGSTOP)


def crashloop_delay(consecutive_crashes: int, backoff: RestartBackoff) -> float:
    """Kubernetes restarts at once, then doubles a base delay up to a cap."""
    if consecutive_crashes <= 1:
        return 0.0
    return float(min(backoff.max, backoff.base * 2 ** (consecutive_crashes - 2)))


@dataclass
class Pod:
    name: str
    deployment: Deployment
    namespace: str
    run_dir: Path
    backoff: RestartBackoff
    on_change: Callable[[], None]
    port: int = 0
    phase: str = PodPhase.PENDING
    ready: bool = False
    restarts: int = 0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    last_exit_code: int | None = None
    process: asyncio.subprocess.Process | None = None
    probe_failures: int = 0
    deleted: bool = False
    region_down: str | None = None  # None, "kill" or "freeze"
    _consecutive_crashes: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    # ---- view -------------------------------------------------------------
    @property
    def labels(self) -> dict[str, str]:
        return self.deployment.pod_labels(self.namespace)

    @property
    def region(self) -> str:
        return self.deployment.region

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.returncode is None else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "deployment": self.deployment.name,
            "ip": "127.0.0.1",
            "port": self.port,
            "url": self.url,
            "labels": self.labels,
            "region": self.region,
            "phase": self.phase,
            "ready": self.ready,
            "restarts": self.restarts,
            "pid": self.pid,
            "started_at": self.started_at,
            "created_at": self.created_at,
            "last_exit_code": self.last_exit_code,
        }

    def _set(self, **changes: Any) -> None:
        dirty = False
        for key, value in changes.items():
            if getattr(self, key) != value:
                setattr(self, key, value)
                dirty = True
        if dirty:
            self.on_change()

    # ---- lifecycle --------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"pod-{self.name}")

    def _bind(self) -> socket.socket:
        # Keep the port across container restarts when possible (a pod keeps its IP).
        if self.port:
            try:
                return bind_listener(self.port)
            except OSError:
                pass
        return bind_listener(0)

    async def _spawn(self) -> None:
        sock = self._bind()
        try:
            self.port = sock.getsockname()[1]
            log = open(self.run_dir / "logs" / f"{self.name}.log", "ab")
            try:
                cmd = python_module_command(
                    ENGINE_MODULE,
                    "--fd", str(sock.fileno()),
                    "--pod", self.name,
                    "--params", json.dumps(self.deployment.engine.model_dump(by_alias=True)),
                    "--startup-delay", str(self.deployment.startup_delay),
                )
                self.process = await asyncio.create_subprocess_exec(
                    *cmd,
                    pass_fds=(sock.fileno(),),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    preexec_fn=set_parent_death_signal,
                    start_new_session=True,  # Ctrl-C reaches the orchestrator only; it stops children in order
                )
            finally:
                log.close()
        finally:
            sock.close()  # the child holds the socket now; once it dies, connections are refused
        self.started_at = time.time()
        self._set(phase=PodPhase.PENDING, ready=False, probe_failures=0)

    async def _run(self) -> None:
        while not self.deleted:
            if self.region_down == "kill":
                self._set(phase=PodPhase.STOPPED)
                await self._wait_wake()
                continue
            await self._spawn()
            assert self.process is not None
            started = time.monotonic()
            code = await self.process.wait()
            self.last_exit_code = code
            if self.deleted:
                break
            if self.region_down == "kill":
                continue  # killed by a region outage: stays down until the region starts
            # The container exited on its own: restart in place, with back-off.
            if time.monotonic() - started > self.backoff.reset_after:
                self._consecutive_crashes = 0
            self._consecutive_crashes += 1
            self.restarts += 1
            delay = crashloop_delay(self._consecutive_crashes, self.backoff)
            self._set(ready=False, phase=PodPhase.CRASHLOOP if delay > 0 else PodPhase.PENDING)
            if delay > 0:
                await self._wait_wake(delay)
        self._set(ready=False, phase=PodPhase.TERMINATING)

    async def _wait_wake(self, timeout: float | None = None) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass

    def _signal(self, sig: int) -> None:
        if self.process and self.process.returncode is None:
            try:
                os.kill(self.process.pid, sig)
            except ProcessLookupError:
                pass

    async def delete(self, grace_period: float = 0.0) -> None:
        """End the pod for good: SIGTERM, then SIGKILL after the grace period."""
        self.deleted = True
        self._set(ready=False, phase=PodPhase.TERMINATING)
        self._signal(signal.SIGCONT)  # a frozen process cannot handle SIGTERM
        if self.process and self.process.returncode is None:
            self._signal(signal.SIGTERM if grace_period > 0 else signal.SIGKILL)
            try:
                await asyncio.wait_for(self.process.wait(), grace_period if grace_period > 0 else 5.0)
            except TimeoutError:
                self._signal(signal.SIGKILL)
                await self.process.wait()
        self._wake.set()
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)

    def kill_container(self) -> None:
        """SIGKILL the process; the pod restarts it (as a container OOM-kill)."""
        self._signal(signal.SIGKILL)

    def region_stop(self, mode: str) -> None:
        self.region_down = mode
        if mode == "kill":
            # Endpoints of a lost region go stale rather than vanish: the other
            # clusters cannot reach its API server, so readiness is left as it was.
            self._set(phase=PodPhase.STOPPED)
            self._signal(signal.SIGKILL)
        else:
            self._signal(signal.SIGSTOP)
            self._set(phase=PodPhase.FROZEN)

    def region_start(self) -> None:
        mode, self.region_down = self.region_down, None
        if mode == "freeze":
            self._signal(signal.SIGCONT)
            self._set(phase=PodPhase.RUNNING if self.ready else PodPhase.PENDING)
        elif mode == "kill":
            self._set(ready=False)
            self._wake.set()

    # ---- readiness --------------------------------------------------------
    def probe_result(self, healthy: bool, failure_threshold: int) -> None:
        """Feed one readiness probe result (a kubelet readiness probe)."""
        if self.deleted or self.region_down:
            return
        if healthy:
            self._set(ready=True, phase=PodPhase.RUNNING, probe_failures=0)
        else:
            failures = self.probe_failures + 1
            # A pod never seen ready stays Pending; a ready one turns unready after the threshold.
            self._set(probe_failures=failures, ready=self.ready and failures < failure_threshold)
