"""`harness stack up|down|status`: the embedded local stack from the command line."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from harness.diagnostics import ConfigError
from harness.localstack.procs import is_same_process, python_module_command, terminate_pid
from harness.localstack.stack import DEFAULT_ISTIO_DIR, StackError, StackOptions, preflight, run_stack
from harness.localstack.state import StackState, read_state, remove_state, stack_dir
from harness.localstack.topology import DEFAULT_TOPOLOGY

app = typer.Typer(help="Run the embedded local stack (engines, mesh proxy, orchestrator, Prometheus).",
                  no_args_is_help=True)
# Tables of pods are wide; piped output (CI logs) must not squeeze them to 80 columns.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False)

NameOpt = typer.Option("default", "--name", help="stack name; two stacks with different names run side by side")


def _options(name: str, topology: Path, istio: list[Path] | None, no_prometheus: bool, no_mesh: bool,
             ready_timeout: float) -> StackOptions:
    return StackOptions(name=name, topology=topology, istio=istio or [DEFAULT_ISTIO_DIR],
                        prometheus=not no_prometheus, mesh=not no_mesh, ready_timeout=ready_timeout)


@app.command()
def up(
    topology: Path = typer.Option(DEFAULT_TOPOLOGY, "--topology", help="LocalTopology YAML"),
    istio: list[Path] | None = typer.Option(None, "--istio", help="directory of Istio YAML (repeatable)"),
    name: str = NameOpt,
    detach: bool = typer.Option(False, "--detach", "-d", help="start in the background and return once ready"),
    no_prometheus: bool = typer.Option(False, "--no-prometheus", help="do not start Prometheus"),
    no_mesh: bool = typer.Option(False, "--no-mesh", help="no mesh proxy: the gateway is one engine"),
    ready_timeout: float = typer.Option(60.0, "--ready-timeout", help="seconds to wait for every pod"),
) -> None:
    """Start the stack; in the foreground, Ctrl-C stops it and everything it started."""
    opts = _options(name, topology, istio, no_prometheus, no_mesh, ready_timeout)
    preflight(opts)  # bad input fails here, before any process starts
    if detach:
        try:
            state = start_detached(opts)
        except StackError as exc:
            err.print(f"error: {exc}", style="red", soft_wrap=True)
            raise typer.Exit(1)
        print_status(state, as_json=False)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started = asyncio.Event()

    async def main() -> None:
        task = asyncio.create_task(run_stack(opts, started=started))
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if started.is_set():
            state = read_state(opts.name)
            if state:
                print_status(state, as_json=False)
            err.print("stack is up; Ctrl-C stops it")
        else:
            waiter.cancel()
        await task

    try:
        asyncio.run(main())
    except StackError as exc:
        err.print(f"error: {exc}", style="red", soft_wrap=True)
        raise typer.Exit(1)
    err.print("stack stopped")


def start_detached(opts: StackOptions, timeout: float | None = None) -> StackState:
    """Start the orchestrator as a background process and wait for its state file."""
    run_dir = stack_dir(opts.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    args = ["--name", opts.name, "--topology", str(opts.topology), "--ready-timeout", str(opts.ready_timeout)]
    for d in opts.istio:
        args += ["--istio", str(d)]
    if not opts.prometheus:
        args.append("--no-prometheus")
    if not opts.mesh:
        args.append("--no-mesh")
    log_path = run_dir / "orchestrator.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(python_module_command("harness.localstack.orchestrator", *args),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + (timeout or opts.ready_timeout + 30)
    while time.monotonic() < deadline:
        state = read_state(opts.name)
        if state and state.pid == proc.pid:
            return state
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            raise StackError("the stack did not start:\n" + "\n".join(tail))
        time.sleep(0.1)
    terminate_pid(proc.pid, grace=10)
    raise StackError(f"the stack was not ready in time; see {log_path}")


def stop_stack(name: str) -> bool:
    """Stop the named stack by its recorded PID. False if none was running."""
    state = read_state(name)
    if state is None:
        return False
    result = terminate_pid(state.pid, grace=20.0, start_time=state.pid_start_time)
    remove_state(name)
    return result.was_running


@app.command()
def down(name: str = NameOpt) -> None:
    """Stop a stack started with --detach (or in another terminal)."""
    if stop_stack(name):
        err.print(f"stack '{name}' stopped")
    else:
        err.print(f"no stack named '{name}' is running")


def collect_status(state: StackState) -> dict[str, Any]:
    with httpx.Client(base_url=state.admin, timeout=5) as client:
        pods = client.get("/pods").json()["pods"]
        regions = client.get("/regions").json()["regions"]
        hpas = client.get("/hpas").json()["hpas"]
    return {
        "name": state.name, "gateway": state.gateway, "prometheus": state.prometheus, "admin": state.admin,
        "mesh_admin": state.mesh_admin, "pid": state.pid, "pods": pods, "regions": regions, "hpas": hpas,
    }


def print_status(state: StackState, as_json: bool) -> None:
    status = collect_status(state)
    if as_json:
        out.print_json(json.dumps(status))
        return
    table = Table(title=f"stack '{state.name}'")
    for col in ("pod", "region", "app", "version", "pool", "phase", "ready", "restarts", "url"):
        table.add_column(col)
    for p in status["pods"]:
        lab = p["labels"]
        table.add_row(p["name"], p["region"], lab.get("app", ""), lab.get("version", ""), lab.get("pool", ""),
                      p["phase"], "yes" if p["ready"] else "no", str(p["restarts"]), p["url"])
    out.print(table)
    out.print(f"gateway     {status['gateway']}")
    out.print(f"prometheus  {status['prometheus'] or '(not started)'}")
    out.print(f"admin       {status['admin']}")
    if status["mesh_admin"]:
        out.print(f"mesh admin  {status['mesh_admin']}")
    regions = ", ".join(f"{r['name']} ({r['state']})" for r in status["regions"])
    out.print(f"regions     {regions}")


@app.command()
def status(name: str = NameOpt, as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Pods (labels, state, restarts), regions, HPAs and the stack's URLs."""
    state = read_state(name)
    if state is None or not is_same_process(state.pid, state.pid_start_time):
        err.print(f"no stack named '{name}' is running; start one with 'harness stack up --detach'")
        raise typer.Exit(1)
    try:
        print_status(state, as_json)
    except httpx.HTTPError as exc:
        err.print(f"the stack's admin API at {state.admin} did not answer: {exc}")
        raise typer.Exit(1)


def _orchestrator_main(argv: list[str]) -> None:
    """Entry of the detached orchestrator process (`python -m harness.localstack.orchestrator`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="harness-orchestrator")
    parser.add_argument("--name", default="default")
    parser.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY)
    parser.add_argument("--istio", type=Path, action="append")
    parser.add_argument("--no-prometheus", action="store_true")
    parser.add_argument("--no-mesh", action="store_true")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    a = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    opts = _options(a.name, a.topology, a.istio, a.no_prometheus, a.no_mesh, a.ready_timeout)
    try:
        asyncio.run(run_stack(opts))
    except (StackError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
