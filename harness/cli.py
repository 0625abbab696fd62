"""The `harness` command.

Each area owns its sub-command group in its own module (`harness.localstack.cli`,
`harness.load.cli`, `harness.chaos.cli`) and this module only mounts them, so a
user mistake anywhere ends in one clear line and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer
from rich.console import Console

from harness.diagnostics import ConfigError, errors_only

app = typer.Typer(
    name="harness",
    help="Chaos and conformance harness for LLM serving meshes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)


@app.callback()
def _root() -> None:
    """Chaos and conformance harness for LLM serving meshes."""

# (module, group name): each module exposes `app: typer.Typer`.
_GROUPS = [
    ("harness.localstack.cli", "stack"),
    ("harness.load.cli", "load"),
    ("harness.chaos.cli", "chaos"),
]
for _module, _name in _GROUPS:
    try:
        app.add_typer(importlib.import_module(_module).app, name=_name)
    except ModuleNotFoundError as _exc:  # an area not built yet
        if _exc.name != _module:
            raise


@app.command()
def validate(
    path: Path = typer.Argument(..., help="A file or directory: Istio YAML, manifests, topology, experiments."),
    server_dry_run: bool = typer.Option(False, "--server-dry-run",
                                        help="also send the manifests to the current cluster with dryRun=All"),
    context: str = typer.Option(None, "--context", help="kubeconfig context for --server-dry-run"),
) -> None:
    """Check files offline; exit 1 on any error (warnings are printed, not fatal)."""
    from harness.validation import validate_path

    diagnostics = validate_path(path)
    if server_dry_run and not errors_only(diagnostics):
        from harness.validation.server_dry_run import server_dry_run as dry_run

        diagnostics += dry_run([path], context=context)
    for d in diagnostics:
        err.print(str(d), style="red" if d.severity == "error" else "yellow", soft_wrap=True)
    errors = errors_only(diagnostics)
    if errors:
        err.print(f"{len(errors)} error(s), {len(diagnostics) - len(errors)} warning(s) in {path}")
        raise typer.Exit(1)
    err.print(f"ok: {path} ({len(diagnostics)} warning(s))")


@app.command()
def smoke(
    topology: Path = typer.Option(None, "--topology", help="LocalTopology YAML (default: the reference topology)"),
    istio: list[Path] = typer.Option(None, "--istio", help="directory of Istio YAML (repeatable)"),
    no_prometheus: bool = typer.Option(False, "--no-prometheus", help="do not start Prometheus"),
) -> None:
    """Start the local stack, stream one chat completion through the gateway, print status, stop."""
    import asyncio

    from rich.console import Console

    from harness.localstack.smoke import run_smoke
    from harness.localstack.stack import DEFAULT_ISTIO_DIR, StackError, StackOptions
    from harness.localstack.topology import DEFAULT_TOPOLOGY

    opts = StackOptions(name="smoke", topology=topology or DEFAULT_TOPOLOGY, istio=istio or [DEFAULT_ISTIO_DIR],
                        prometheus=not no_prometheus)
    try:
        asyncio.run(run_smoke(opts, Console(highlight=False)))
    except StackError as exc:
        err.print(f"error: {exc}", style="red", soft_wrap=True)
        raise typer.Exit(1)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        for d in exc.diagnostics:
            err.print(str(d), style="red", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
