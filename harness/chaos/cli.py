"""`harness chaos run EXPERIMENT` and `harness chaos rollback --journal F`."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import typer
from rich.console import Console

from harness.chaos.journal import Journal, JournalError
from harness.chaos.rollback import RollbackResult, rollback_journal
from harness.diagnostics import ConfigError, Diagnostic
from harness.exitcodes import ExitCode
from harness.load.gateway import apply_settings, prepare_target, with_outbound_options
from harness.outbound import OutboundSettings

app = typer.Typer(help="Chaos Toolkit experiments with journaled, always-rolled-back faults")
out = Console(highlight=False)
GATEWAY_ENV = "HARNESS_GATEWAY_URL"  # the experiments' harness_gateway_url


def _print_rollbacks(results: list[RollbackResult], indent: str = "") -> None:
    for r in results:
        out.print(f"{indent}rollback {r['action']} ({r['id']}): "
                  f"{'ok' if r['rolled_back'] else 'FAILED: ' + r.get('error', '')}", soft_wrap=True)


@app.command("run")
@with_outbound_options
def run(
    experiment: Path = typer.Argument(..., help="a Chaos Toolkit experiment (experiments/*.yaml)"),
    target: str = typer.Option("local", "--target", help="local or kube"),
    stack: str = typer.Option("default", "--stack", help="the local stack to act on"),
    namespace: str | None = typer.Option(None, "--namespace"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan; inject nothing"),
    journal: Path | None = typer.Option(None, "--journal", help="fault journal (JSON lines)"),
    ctk_journal: Path | None = typer.Option(None, "--ctk-journal", help="write Chaos Toolkit's run journal here"),
    guard_service: str | None = typer.Option(None, "--guard-service", help="abort if this service's availability"),
    guard_availability: float = typer.Option(0.5, "--guard-availability", help="... drops below this (30 s window)"),
    outbound: OutboundSettings = OutboundSettings(),
) -> None:
    """Run an experiment; every fault it injects is rolled back, whatever happens.
    Exit 0 completed, 1 deviated / failed / aborted, 2 invalid input or no target, 130 interrupted.
    The probes reach the gateway (HARNESS_GATEWAY_URL, or the local stack's) with the outbound options."""
    from harness.chaos.runner import ChaosRun, Guard

    if target not in ("local", "kube"):
        raise ConfigError(Diagnostic("error", "--target", f"unknown target {target!r}", fix="use local or kube"))
    gateway = os.environ.get(GATEWAY_ENV)
    if gateway and not dry_run:
        # a gateway the probes cannot reach (its CA, a client certificate, a proxy) would read
        # as a mesh that lost its requests: checked with one request before any fault
        os.environ[GATEWAY_ENV] = prepare_target(gateway, outbound, out, url_option=GATEWAY_ENV)
    else:
        apply_settings(outbound, out)
    guard = None
    if guard_service:
        from harness.chaos.probes import slo_availability

        cfg = {"harness_target": target, "harness_stack": stack}
        service = guard_service
        guard = Guard(lambda: slo_availability(service, "30s", cfg), guard_availability,
                      description=f"availability of {service}")
    outcome = ChaosRun(experiment, target, stack, namespace, dry_run, journal, guard, ctk_journal,
                       on_start=lambda line: out.print(line, soft_wrap=True)).run()
    if outcome.exit_code == ExitCode.INTERRUPTED:
        # Rolled back and on the way out with 130: a further signal (an impatient second
        # Ctrl-C, CI's SIGTERM again) is ignored. A Python handler would be reset to the
        # default while the interpreter shuts down, and the signal would kill it (-15).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    out.print(f"experiment {experiment.name}: {outcome.status}"
              f"{' (deviated)' if outcome.deviated else ''}{': ' + outcome.reason if outcome.reason else ''}",
              soft_wrap=True)
    _print_rollbacks(outcome.rollbacks, "  ")
    if outcome.journal_path:
        out.print(f"fault journal: {outcome.journal_path}", soft_wrap=True)
    raise typer.Exit(outcome.exit_code)


@app.command("rollback")
def rollback(journal: Path = typer.Option(..., "--journal", help="the fault journal a run left")) -> None:
    """Undo every fault a (crashed) run's journal still holds."""
    if not journal.is_file():
        raise ConfigError(Diagnostic("error", str(journal), "no such journal file", field="--journal",
                                     fix="pass the path `harness chaos run` printed"))
    try:
        results = rollback_journal(Journal(journal))
    except JournalError as exc:
        raise ConfigError(Diagnostic("error", str(journal), exc.message, field="--journal", line=exc.line,
                                     fix="pass the path `harness chaos run` printed")) from None
    if not results:
        out.print("nothing to roll back")
    _print_rollbacks(results)
    raise typer.Exit(0 if all(r["rolled_back"] for r in results) else 1)
