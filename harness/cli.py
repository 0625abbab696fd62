"""The `harness` command.

Each area owns its sub-command group in its own module (`harness.localstack.cli`,
`harness.load.cli`, `harness.chaos.cli`) and this module only mounts them, so a
user mistake anywhere ends in one clear line and exit code 2, never a traceback.

Exit codes, the same for every command (`harness.exitcodes.ExitCode`, README): 0 ok; 1 failed
(a verdict failed, an action failed, the stack failed); 2 bad input; 3 nothing
failed but a threshold was missed or a verdict is inconclusive; 130
interrupted (SIGINT or SIGTERM), everything started stopped and rolled back.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperOption

from harness.chaos.cli import app as chaos_app
from harness.diagnostics import ConfigError
from harness.exitcodes import ExitCode
from harness.load.cli import app as load_app
from harness.localstack.cli import app as stack_app
from harness.report.cli import app as report_app

app = typer.Typer(
    name="harness",
    help="Chaos and conformance harness for LLM serving meshes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)

_value_type = TyperOption.display_type_rich


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    # typer prints a flag's type in help (`--headless <bool>`), which reads as if it took a value
    return None if self.is_flag else _value_type(self, ctx)


TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


@app.callback()
def _root() -> None:
    """Chaos and conformance harness for LLM serving meshes."""


app.add_typer(stack_app, name="stack")
app.add_typer(load_app, name="load")
app.add_typer(chaos_app, name="chaos")
app.add_typer(report_app, name="report")


def _mount_certify() -> None:
    from harness.certify.cli import certify_command

    app.command(name="certify")(certify_command)


_mount_certify()


@app.command()
def validate(
    path: Path = typer.Argument(..., help="A file or directory: Istio YAML, manifests, topology, experiments."),
    strict: bool = typer.Option(False, "--strict", help="warnings fail too (exit 1), as istioctl analyze "
                                "--failure-threshold Warning"),
    server_dry_run: bool = typer.Option(False, "--server-dry-run",
                                        help="also send the manifests to the current cluster with dryRun=All"),
    context: str = typer.Option(None, "--context", help="kubeconfig context for --server-dry-run"),
) -> None:
    """Check files offline; exit 1 on any error (with --strict, on any warning), 2 when there is nothing to check."""
    from harness.validation import validate_path

    result = validate_path(path)
    if server_dry_run and result.exit_code() == 0:
        from harness.validation.server_dry_run import server_dry_run as dry_run

        result = dataclasses.replace(result, diagnostics=result.diagnostics + dry_run([path], context=context))
    for d in result.diagnostics:
        err.print(str(d), style="red" if d.severity == "error" else "yellow", soft_wrap=True, markup=False)
    if not result.nothing_to_validate:  # else its one error line says it all
        err.print(result.summary(strict), soft_wrap=True)
    if result.exit_code(strict):
        raise typer.Exit(result.exit_code(strict))


@app.command()
def smoke(
    topology: Path = typer.Option(None, "--topology", help="LocalTopology YAML (default: the reference topology)"),
    istio: list[Path] = typer.Option(None, "--istio", help="directory of Istio YAML (repeatable)"),
    no_prometheus: bool = typer.Option(False, "--no-prometheus", help="do not start Prometheus"),
) -> None:
    """Start the local stack, stream one chat completion through the gateway, print status, stop."""
    import asyncio

    import httpx

    from harness.localstack.smoke import SmokeFailed, run_smoke
    from harness.localstack.stack import (
        DEFAULT_ISTIO_DIR,
        Interrupted,
        StackError,
        StackOptions,
        until_signalled,
    )
    from harness.localstack.topology import DEFAULT_TOPOLOGY

    opts = StackOptions(name="smoke", topology=topology or DEFAULT_TOPOLOGY, istio=istio or [DEFAULT_ISTIO_DIR],
                        prometheus=not no_prometheus)
    try:
        console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)  # CI logs: no squeezed table
        asyncio.run(until_signalled(run_smoke(opts, console)))
    except Interrupted as exc:
        err.print(f"{exc}; stack stopped")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except (StackError, SmokeFailed, httpx.HTTPError) as exc:
        err.print(f"error: {exc}", style="red", soft_wrap=True)
        raise typer.Exit(ExitCode.FAILED) from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # SIGTERM (how CI cancels a job) ends a command as Ctrl-C does, even before a
    # command installs its own handler: cleanup runs, exit code 130.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except ConfigError as exc:
        for d in exc.diagnostics:
            err.print(str(d), style="red", soft_wrap=True)
        sys.exit(ExitCode.BAD_INPUT)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
