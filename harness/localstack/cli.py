"""`harness stack up|down|status`: the embedded local stack from the command line.

Exit codes: 0 ok; 1 the stack failed (a part did not start or died); 2 bad
input (files, options, a name already taken, no stack of that name);
130 interrupted by SIGINT or SIGTERM, everything stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import httpx
import typer
from rich.console import Console

from harness.exitcodes import ExitCode
from harness.localstack.detached import start_detached, stop_detached
from harness.localstack.procs import is_same_process
from harness.localstack.stack import (
    DEFAULT_ISTIO_DIR,
    LocalStack,
    StackError,
    StackOptions,
    run_until_signalled,
)
from harness.localstack.state import read_state
from harness.localstack.status import collect_status, print_status
from harness.localstack.topology import DEFAULT_TOPOLOGY

__all__ = ["app"]

app = typer.Typer(help="Run the embedded local stack (engines, mesh proxy, orchestrator, Prometheus).",
                  no_args_is_help=True)
# Tables of pods are wide; piped output (CI logs) must not squeeze them to 80 columns.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False)

NameOpt = typer.Option("default", "--name", help="stack name; two stacks with different names run side by side")


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
    """Start the stack; in the foreground, Ctrl-C (or SIGTERM) stops it and everything it started."""
    opts = StackOptions(name=name, topology=topology, istio=istio or [DEFAULT_ISTIO_DIR],
                        prometheus=not no_prometheus, mesh=not no_mesh, ready_timeout=ready_timeout)
    if detach:
        try:
            state = start_detached(opts)
            status = asyncio.run(collect_status(state))
        except (StackError, httpx.HTTPError) as exc:
            err.print(f"error: {exc}", style="red", soft_wrap=True)
            raise typer.Exit(ExitCode.FAILED) from None
        print_status(status, out)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    async def announce(stack: LocalStack) -> None:
        print_status(await collect_status(stack.state), out)
        err.print("stack is up; Ctrl-C stops it")

    try:
        signum = asyncio.run(run_until_signalled(opts, on_ready=announce))
    except StackError as exc:
        err.print(f"error: {exc}", style="red", soft_wrap=True)
        raise typer.Exit(ExitCode.FAILED) from None
    err.print(f"stack stopped (signal {signum})")
    raise typer.Exit(ExitCode.INTERRUPTED)  # SIGTERM too: CI cancellation reads as interrupted


@app.command()
def down(name: str = NameOpt) -> None:
    """Stop a stack started with --detach (or in another terminal)."""
    if stop_detached(name):
        err.print(f"stack '{name}' stopped")
    else:
        err.print(f"no stack named '{name}' is running")


@app.command()
def status(name: str = NameOpt, as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Pods (labels, state, restarts), regions, HPAs and the stack's URLs."""
    state = read_state(name)
    if state is None or not is_same_process(state.pid, state.pid_start_time):
        err.print(f"error: --name: no stack named '{name}' is running "
                  "(fix: start one with 'harness stack up --detach')", style="red", soft_wrap=True)
        raise typer.Exit(ExitCode.BAD_INPUT)
    try:
        result = asyncio.run(collect_status(state))
    except httpx.HTTPError as exc:
        err.print(f"error: the stack's admin API at {state.admin} did not answer: {exc}", style="red", soft_wrap=True)
        raise typer.Exit(ExitCode.FAILED) from None
    if as_json:
        out.print_json(json.dumps(result))
    else:
        print_status(result, out)
