"""Compose the local stack: orchestrator + pods, mesh proxy, Prometheus.

`LocalStack` owns one stack's life in this process: validate every input
before anything starts, take the stack's name, start the parts in order,
wait until they are ready (Prometheus included: every target scraped once),
record the state file, and stop everything it started on any exit path.
Each part registers its own teardown the moment it starts (an
`AsyncExitStack`), so a failure half-way stops exactly what was started.
`run_until_signalled` runs a stack until SIGINT or SIGTERM. Children die
with this process through PR_SET_PDEATHSIG if it is killed outright.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from harness.diagnostics import ConfigError, Diagnostic
from harness.heap import settle_heap
from harness.istio.loading import load_mesh_config
from harness.localstack import prometheus
from harness.localstack.orchestrator.admin import build_admin_app
from harness.localstack.orchestrator.core import Orchestrator
from harness.localstack.procs import (
    bind_listener,
    process_start_time,
    python_module_command,
    set_parent_death_signal,
)
from harness.localstack.state import (
    StackState,
    adopt_name_lock,
    lock_name,
    remove_state,
    stack_dir,
    write_state,
)
from harness.localstack.topology import DEFAULT_TOPOLOGY, Topology, load_topology, topology_registry

__all__ = ["StackOptions", "StackError", "LocalStack", "Interrupted", "until_signalled", "run_until_signalled",
           "preflight", "DEFAULT_ISTIO_DIR",
           "MESH_START_TIMEOUT_S", "FIRST_SCRAPE_TIMEOUT_S"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_ISTIO_DIR = Path(__file__).resolve().parents[2] / "reference-stack" / "istio"
MESH_MODULE = "harness.localstack.mesh"
MESH_START_TIMEOUT_S = 15.0  # the mesh proxy's admin /healthz answers 200
FIRST_SCRAPE_TIMEOUT_S = 15.0  # Prometheus has scraped every target once (1 s interval)


class StackError(RuntimeError):
    """A part of the stack failed to start; everything already started has been stopped."""


@dataclass
class StackOptions:
    name: str = "default"
    topology: Path = DEFAULT_TOPOLOGY
    istio: list[Path] = field(default_factory=lambda: [DEFAULT_ISTIO_DIR])
    prometheus: bool = True
    mesh: bool = True
    ready_timeout: float = 60.0


def preflight(opts: StackOptions) -> Topology:
    """Every check that can fail on user input, before any process starts."""
    topology = load_topology(opts.topology)
    if opts.mesh:
        for d in opts.istio:
            if not d.exists():
                raise ConfigError(Diagnostic("error", str(d), "Istio config directory not found",
                                             fix="pass --istio with a directory of VirtualService/DestinationRule YAML"))
        # Raises ConfigError naming file, object and field; routes are checked against the topology.
        load_mesh_config(list(opts.istio), topology_registry(topology))
    if opts.prometheus and shutil.which("prometheus") is None:
        raise ConfigError(Diagnostic("error", "prometheus", "the 'prometheus' binary is not on PATH",
                                     fix=f"install it with: {prometheus.INSTALL_HINT} (or pass --no-prometheus)"))
    return topology


async def _serve_admin(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock = bind_listener(0)
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def _wait_http_ok(url: str, proc: asyncio.subprocess.Process, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        while loop.time() < deadline and proc.returncode is None:
            try:
                async with session.get(url) as r:
                    if r.status == 200:
                        return True
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.05)
    return False


async def _stop_process(proc: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _keep_targets(orch: Orchestrator, path: Path) -> None:
    """Rewrite Prometheus' engine targets whenever pods change."""
    seen = -1
    while True:
        seen = await orch.wait_for_change(seen, 30.0)
        prometheus.write_targets(path, _engine_targets(orch))


def _engine_targets(orch: Orchestrator) -> list[dict[str, object]]:
    pods = [p.as_json() for p in orch.pods.values() if not p.deleted]
    return prometheus.engine_targets(pods, orch.topology.namespace)


def _fallback_gateway(orch: Orchestrator) -> str:
    """Without the mesh, point the gateway at one ready chat engine (pre-mesh behaviour)."""
    order = {d.name: i for i, d in enumerate(orch.topology.deployments)}
    ready = [p for p in orch.pods.values() if p.ready and not p.deleted and p.deployment.engine.kind == "generate"]
    # Prefer the gateway region, then the topology's deployment order (the primary chat model first).
    ready.sort(key=lambda p: (p.deployment.region != orch.topology.gateway_region,
                              order.get(p.deployment.name, 0), p.name))
    return ready[0].url if ready else ""


class LocalStack:
    """One local stack run by this process.

        async with LocalStack(StackOptions(name="dev")) as stack:
            httpx.get(stack.state.gateway + "/v1/models")

    `start()` returns once every part is ready and the state file is written;
    `stop()` (or leaving the block) stops everything that was started, in
    reverse order, whatever happened in between. `lock_fd` is a name lock
    taken by a parent process (see `state.lock_name`); without it the stack
    takes its name itself.
    """

    def __init__(self, options: StackOptions, *, lock_fd: int | None = None) -> None:
        self.options = options
        self._lock_fd = lock_fd
        self._teardown = AsyncExitStack()
        self._state: StackState | None = None
        self._orchestrator: Orchestrator | None = None
        self._watched: dict[asyncio.Future[Any], str] = {}  # parts whose exit ends the stack

    @property
    def state(self) -> StackState:
        if self._state is None:
            raise RuntimeError("the stack is not started")
        return self._state

    @property
    def orchestrator(self) -> Orchestrator:
        if self._orchestrator is None:
            raise RuntimeError("the stack is not started")
        return self._orchestrator

    async def __aenter__(self) -> LocalStack:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def start(self) -> StackState:
        """Start every part; on any failure (or cancellation) stop what started and re-raise."""
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop everything started, newest first; safe to call twice."""
        for waiter in self._watched:
            waiter.cancel()
        self._watched.clear()
        await self._teardown.aclose()
        self._state = None

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        """Wait for `stop` (by default, until cancelled); a dead mesh proxy or
        Prometheus ends the stack loudly."""
        stop_wait = asyncio.ensure_future((stop or asyncio.Event()).wait())
        try:
            done, _ = await asyncio.wait({stop_wait, *self._watched}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
        for part in done:
            if part is not stop_wait:
                raise StackError(f"the {self._watched[part]} exited unexpectedly; stopping the stack")

    async def _start(self) -> StackState:
        opts, td = self.options, self._teardown
        topology = preflight(opts)
        lock = adopt_name_lock(self._lock_fd) if self._lock_fd is not None else lock_name(opts.name)
        td.callback(os.close, lock)
        run_dir = stack_dir(opts.name)
        # Only now, holding the name: a second start of the same name must not
        # wipe the logs of the stack that holds it.
        shutil.rmtree(run_dir / "logs", ignore_errors=True)
        shutil.rmtree(run_dir / "prometheus", ignore_errors=True)
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()

        orch = self._orchestrator = Orchestrator(topology, run_dir)
        info: dict[str, Any] = {"name": opts.name}
        admin_runner, admin_url = await _serve_admin(build_admin_app(orch, info))
        td.push_async_callback(admin_runner.cleanup)
        td.push_async_callback(orch.stop)
        await orch.start()
        if not await orch.wait_ready(opts.ready_timeout):
            not_ready = sorted(p.name for p in orch.pods.values() if not p.ready and not p.deleted)
            raise StackError(f"pods not ready after {opts.ready_timeout:.0f}s: {', '.join(not_ready)}; "
                             f"see their logs in {run_dir / 'logs'}")
        gateway, mesh_admin = _fallback_gateway(orch), None
        if opts.mesh:
            gateway, mesh_admin = await self._start_mesh(admin_url, topology, run_dir)
        prom_url = await self._start_prometheus(admin_url, mesh_admin, run_dir) if opts.prometheus else ""

        self._state = StackState(
            name=opts.name, pid=os.getpid(), pid_start_time=process_start_time(os.getpid()),
            gateway=gateway, admin=admin_url, prometheus=prom_url, mesh_admin=mesh_admin,
            run_dir=str(run_dir), topology=str(opts.topology), istio=[str(p) for p in opts.istio],
        )
        info.update(gateway=gateway, prometheus=prom_url, mesh_admin=mesh_admin,
                    started_in_s=round(time.monotonic() - t0, 3))
        td.callback(remove_state, opts.name)
        write_state(self._state)
        log.info("stack %s up in %.1fs: gateway %s", opts.name, time.monotonic() - t0, gateway)
        return self._state

    async def _start_mesh(self, admin_url: str, topology: Topology, run_dir: Path) -> tuple[str, str]:
        opts = self.options
        gateway_sock, mesh_admin_sock = bind_listener(0), bind_listener(0)
        try:
            args = ["--fd", str(gateway_sock.fileno()), "--admin-fd", str(mesh_admin_sock.fileno()),
                    "--orchestrator", admin_url, "--topology", str(opts.topology),
                    "--gateway-region", topology.gateway_region]
            for d in opts.istio:
                args += ["--istio", str(d)]
            with open(run_dir / "logs" / "mesh.log", "ab") as log_file:
                proc = await asyncio.create_subprocess_exec(
                    *python_module_command(MESH_MODULE, *args),
                    pass_fds=(gateway_sock.fileno(), mesh_admin_sock.fileno()),
                    stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
                    preexec_fn=set_parent_death_signal, start_new_session=True,
                )
            self._teardown.push_async_callback(_stop_process, proc)
            gateway = f"http://127.0.0.1:{gateway_sock.getsockname()[1]}"
            mesh_admin = f"http://127.0.0.1:{mesh_admin_sock.getsockname()[1]}"
        finally:
            gateway_sock.close()
            mesh_admin_sock.close()
        if not await _wait_http_ok(f"{mesh_admin}/healthz", proc, MESH_START_TIMEOUT_S):
            tail = (run_dir / "logs" / "mesh.log").read_text(errors="replace")[-600:]
            raise StackError(f"the mesh proxy did not start; its log ends with:\n{tail}")
        self._watched[asyncio.ensure_future(proc.wait())] = "mesh proxy"
        return gateway, mesh_admin

    async def _start_prometheus(self, admin_url: str, mesh_admin: str | None, run_dir: Path) -> str:
        orch = self.orchestrator
        prom_dir = run_dir / "prometheus"
        prom_dir.mkdir(parents=True, exist_ok=True)
        targets = prom_dir / "engines.json"
        prometheus.write_targets(targets, _engine_targets(orch))
        keeper = asyncio.get_running_loop().create_task(_keep_targets(orch, targets), name="prometheus-targets")
        self._teardown.push_async_callback(_cancel, keeper)
        config = prom_dir / "prometheus.yml"
        admin_address = admin_url.removeprefix("http://")
        mesh_address = mesh_admin.removeprefix("http://") if mesh_admin else None
        config.write_text(prometheus.render_config(targets, admin_address, mesh_address))
        try:
            prom = await prometheus.launch_prometheus(config, prom_dir / "data", run_dir / "logs" / "prometheus.log")
        except (prometheus.PrometheusNotFound, prometheus.PrometheusNotReady) as exc:
            raise StackError(str(exc)) from None
        self._teardown.push_async_callback(prom.stop)
        expected = {admin_address, *([mesh_address] if mesh_address else []),
                    *(f"127.0.0.1:{p.port}" for p in orch.pods.values() if not p.deleted)}
        t0 = time.monotonic()
        missing = await prometheus.wait_first_scrape(prom.url, expected, FIRST_SCRAPE_TIMEOUT_S)
        log.info("Prometheus scraped %d targets once in %.2fs", len(expected) - len(missing), time.monotonic() - t0)
        if missing:
            raise StackError(f"Prometheus did not scrape every target within {FIRST_SCRAPE_TIMEOUT_S:.0f}s; "
                             f"not yet up: {', '.join(sorted(missing))}; see {run_dir / 'logs' / 'prometheus.log'}")
        self._watched[asyncio.ensure_future(prom.process.wait())] = "prometheus"
        return prom.url


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the work; everything it started is stopped."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


async def until_signalled(work: Awaitable[T]) -> T:
    """Run `work`, cancelling it on the first SIGINT or SIGTERM (its cleanup
    runs; further signals do not interrupt that cleanup) and then raising
    Interrupted. SIGTERM is handled like Ctrl-C because that is how CI
    cancels a job."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    received: list[int] = []

    def on_signal(sig: int) -> None:
        if not received:
            task.cancel()
        received.append(sig)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        return await task
    except asyncio.CancelledError:
        if received:
            raise Interrupted(received[0]) from None
        raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_until_signalled(options: StackOptions, *, lock_fd: int | None = None,
                              on_ready: Callable[[LocalStack], Awaitable[None]] | None = None) -> int:
    """Run a stack until SIGINT or SIGTERM and return that signal's number,
    everything stopped. A signal during start-up stops what has started; a
    part that fails raises StackError, everything stopped."""

    async def serve() -> None:
        async with LocalStack(options, lock_fd=lock_fd) as stack:
            if on_ready is not None:
                await on_ready(stack)
            settle_heap()  # the orchestrator answers probes and endpoint watches: no full-GC stalls
            await stack.serve()

    try:
        await until_signalled(serve())
    except Interrupted as exc:
        return exc.signum
    raise StackError("the stack stopped on its own")  # serve() only ends by a signal or an error
