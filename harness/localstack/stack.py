"""Compose the local stack: orchestrator + pods, mesh proxy, Prometheus.

`run_stack` is the whole life of a stack in one coroutine: validate every
input before anything starts, start the parts in order, record the state
file, serve until told to stop, and stop everything it started on any exit
path (normal, error, SIGINT, SIGTERM). Children die with this process
through PR_SET_PDEATHSIG if it is killed outright.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from harness.diagnostics import ConfigError, Diagnostic, errors_only
from harness.localstack import prometheus
from harness.localstack.orchestrator.admin import build_admin_app
from harness.localstack.orchestrator.core import Orchestrator
from harness.localstack.procs import (
    bind_listener,
    is_same_process,
    process_start_time,
    python_module_command,
    set_parent_death_signal,
)
from harness.localstack.state import StackState, read_state, remove_state, stack_dir, write_state
from harness.localstack.topology import DEFAULT_TOPOLOGY, Topology, load_topology

__all__ = ["StackOptions", "StackError", "run_stack", "DEFAULT_ISTIO_DIR"]

log = logging.getLogger(__name__)

DEFAULT_ISTIO_DIR = Path(__file__).resolve().parents[2] / "reference-stack" / "istio"
MESH_MODULE = "harness.localstack.mesh"


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


def mesh_available() -> bool:
    try:
        return importlib.util.find_spec(f"{MESH_MODULE}.__main__") is not None
    except ModuleNotFoundError:
        return False


def preflight(opts: StackOptions) -> Topology:
    """Every check that can fail on user input, before any process starts."""
    topology = load_topology(opts.topology)
    for d in opts.istio:
        if opts.mesh and mesh_available() and not d.exists():
            raise ConfigError(Diagnostic("error", str(d), "Istio config directory not found",
                                         fix="pass --istio with a directory of VirtualService/DestinationRule YAML"))
    if opts.mesh and mesh_available():
        try:
            from harness.istio.loading import load_mesh_config
        except ImportError:
            pass
        else:
            config = load_mesh_config(list(opts.istio))  # raises ConfigError naming file, object and field
            from harness.istio.lint import topology_diagnostics
            cross = errors_only(topology_diagnostics(config, {s.name for s in topology.services}))
            if cross:
                raise ConfigError(cross)
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


async def _start_mesh(opts: StackOptions, admin_url: str, topology: Topology, run_dir: Path
                      ) -> tuple[asyncio.subprocess.Process, str, str]:
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
        gateway = f"http://127.0.0.1:{gateway_sock.getsockname()[1]}"
        mesh_admin = f"http://127.0.0.1:{mesh_admin_sock.getsockname()[1]}"
    finally:
        gateway_sock.close()
        mesh_admin_sock.close()
    if not await _wait_http_ok(f"{mesh_admin}/healthz", proc, 15.0):
        tail = (run_dir / "logs" / "mesh.log").read_text(errors="replace")[-600:]
        await _stop_process(proc)
        raise StackError(f"the mesh proxy did not start; its log ends with:\n{tail}")
    return proc, gateway, mesh_admin


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
        pods = [p.as_json() for p in orch.pods.values() if not p.deleted]
        prometheus.write_targets(path, prometheus.engine_targets(pods, orch.topology.namespace))


def _fallback_gateway(orch: Orchestrator) -> str:
    """Without the mesh, point the gateway at one ready chat engine (pre-mesh behaviour)."""
    order = {d.name: i for i, d in enumerate(orch.topology.deployments)}
    ready = [p for p in orch.pods.values() if p.ready and not p.deleted and p.deployment.engine.kind == "generate"]
    # Prefer the gateway region, then the topology's deployment order (the primary chat model first).
    ready.sort(key=lambda p: (p.deployment.region != orch.topology.gateway_region,
                              order.get(p.deployment.name, 0), p.name))
    return ready[0].url if ready else ""


async def run_stack(opts: StackOptions, started: asyncio.Event | None = None,
                    stop: asyncio.Event | None = None) -> StackState:
    """Run a stack until `stop` is set or SIGINT/SIGTERM arrives. Returns its last state."""
    topology = preflight(opts)
    run_dir = stack_dir(opts.name)
    if (run_dir / "state.json").exists():
        old = read_state(opts.name)
        if old and is_same_process(old.pid, old.pid_start_time):
            raise ConfigError(Diagnostic("error", "--name", f"a stack named '{opts.name}' is already running (pid {old.pid})",
                                         fix=f"run 'harness stack down --name {opts.name}' or choose another --name"))
    shutil.rmtree(run_dir / "logs", ignore_errors=True)
    shutil.rmtree(run_dir / "prometheus", ignore_errors=True)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    orch = Orchestrator(topology, run_dir)
    info: dict[str, Any] = {"name": opts.name}
    admin_runner: web.AppRunner | None = None
    mesh_proc: asyncio.subprocess.Process | None = None
    prom: prometheus.RunningPrometheus | None = None
    background: list[asyncio.Task[None]] = []
    state: StackState | None = None
    t0 = time.monotonic()
    try:
        admin_runner, admin_url = await _serve_admin(build_admin_app(orch, info))
        await orch.start()
        if not await orch.wait_ready(opts.ready_timeout):
            not_ready = sorted(p.name for p in orch.pods.values() if not p.ready and not p.deleted)
            raise StackError(
                f"pods not ready after {opts.ready_timeout:.0f}s: {', '.join(not_ready)}; "
                f"see their logs in {run_dir / 'logs'}"
            )
        gateway, mesh_admin = "", None
        if opts.mesh and mesh_available():
            mesh_proc, gateway, mesh_admin = await _start_mesh(opts, admin_url, topology, run_dir)
        else:
            gateway = _fallback_gateway(orch)
        prom_url = ""
        if opts.prometheus:
            prom_dir = run_dir / "prometheus"
            prom_dir.mkdir(parents=True, exist_ok=True)
            targets = prom_dir / "engines.json"
            prometheus.write_targets(targets, [])
            background.append(loop.create_task(_keep_targets(orch, targets)))
            config = prom_dir / "prometheus.yml"
            config.write_text(prometheus.render_config(
                targets, admin_url.removeprefix("http://"),
                mesh_admin.removeprefix("http://") if mesh_admin else None))
            try:
                prom = await prometheus.launch_prometheus(config, prom_dir / "data", run_dir / "logs" / "prometheus.log")
            except prometheus.PrometheusNotFound as exc:
                raise StackError(str(exc)) from None
            prom_url = prom.url
        state = StackState(
            name=opts.name, pid=os.getpid(), pid_start_time=process_start_time(os.getpid()),
            gateway=gateway, admin=admin_url, prometheus=prom_url, mesh_admin=mesh_admin,
            run_dir=str(run_dir), topology=str(opts.topology), istio=[str(p) for p in opts.istio],
        )
        info.update(gateway=gateway, prometheus=prom_url, mesh_admin=mesh_admin,
                    started_in_s=round(time.monotonic() - t0, 3))
        write_state(state)
        log.info("stack %s up in %.1fs: gateway %s", opts.name, time.monotonic() - t0, gateway)
        if started:
            started.set()
        await _serve_until(stop, mesh_proc, prom)
        return state
    finally:
        remove_state(opts.name)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if mesh_proc:
            await _stop_process(mesh_proc)
        if prom:
            await prom.stop()
        await orch.stop()
        if admin_runner:
            await admin_runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _serve_until(stop: asyncio.Event, mesh: asyncio.subprocess.Process | None,
                       prom: prometheus.RunningPrometheus | None) -> None:
    """Wait for the stop signal; a dead mesh or Prometheus ends the stack loudly."""
    waits: dict[asyncio.Future[Any], str] = {asyncio.ensure_future(stop.wait()): "stop"}
    if mesh:
        waits[asyncio.ensure_future(mesh.wait())] = "mesh proxy"
    if prom:
        waits[asyncio.ensure_future(prom.process.wait())] = "prometheus"
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for f in pending:
        f.cancel()
    which = waits[next(iter(done))]
    if which != "stop":
        raise StackError(f"the {which} exited unexpectedly; stopping the stack")
