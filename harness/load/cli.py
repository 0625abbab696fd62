"""`harness load`: run a load profile headless (with CI thresholds) or open
Locust's web UI on it. The target defaults to the running local stack's gateway."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console

from harness.diagnostics import ConfigError, Diagnostic
from harness.durations import parse_duration
from harness.exitcodes import ExitCode
from harness.load.cliparams import options_as_one_value
from harness.load.gateway import prepare_target, with_outbound_options
from harness.load.runner import (
    CSV_RULE,
    LoadResult,
    LoadRun,
    available_profiles,
    csv_destination,
    resolve_profile,
)
from harness.load.supervise import (
    forward_stop_signals,
    terminate_with_parent,
    wait_until,
)
from harness.load.thresholds import Thresholds, summarize, threshold_flags
from harness.localstack.capacity import check_stack_load
from harness.outbound import OutboundSettings

app = typer.Typer(help="LLM load profiles on Locust (headless runs, thresholds, the web UI)",
                  invoke_without_command=True, no_args_is_help=False)
out = Console(highlight=False)
_UI_STOP_S = 15.0  # Locust's web UI gets this long to stop after a signal before it is killed


def default_host(stack: str) -> str:
    from harness.localstack.state import read_state

    state = read_state(stack)
    if state is None or not state.gateway:
        raise ConfigError(Diagnostic("error", "--host", f"no --host given and no local stack named '{stack}' is "
                                     "running", fix="start one with `harness stack up --detach` or pass --host URL"))
    return state.gateway


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(Diagnostic("error", "--duration", str(exc), fix="write e.g. 60s or 5m")) from None


with_threshold_options = options_as_one_value(
    "thresholds",
    [(f.name, float | None, typer.Option(None, f.flag, help=f.help, show_default=False)) for f in threshold_flags()],
    Thresholds)


@app.callback()
@with_threshold_options
@with_outbound_options
def load(
    ctx: typer.Context,
    profile: str | None = typer.Option(None, "--profile", "-p", help=f"one of {', '.join(available_profiles())} or a locustfile"),
    headless: bool = typer.Option(False, "--headless", help="run without the web UI"),
    duration: str = typer.Option("60s", "--duration", "-t"),
    users: int = typer.Option(10, "--users", "-u"),
    spawn_rate: float = typer.Option(10.0, "--spawn-rate", "-r"),
    host: str | None = typer.Option(None, "--host", help="base URL (default: the local stack's gateway)"),
    stack: str = typer.Option("default", "--stack", help="local stack whose gateway is the default host"),
    csv: str | None = typer.Option(None, "--csv", help=f"where Locust's CSV files and the records go: {CSV_RULE}"),
    records: Path | None = typer.Option(None, "--records", help="JSON-lines file of RequestRecords"),
    thresholds: Thresholds = Thresholds(),
    outbound: OutboundSettings = OutboundSettings(),
) -> None:
    """Run a profile headless: `harness load --profile chat_stream --headless --duration 60s --csv out/`.
    Exit 0 when the run finished, 3 when a threshold was missed, 130 when stopped by SIGINT / SIGTERM."""
    if ctx.invoked_subcommand is not None:
        return
    if profile is None:
        raise ConfigError(Diagnostic("error", "--profile", "no profile given",
                                     fix=f"pass --profile with one of {', '.join(available_profiles())}"))
    if not headless:
        raise ConfigError(Diagnostic("error", "harness load", "pick a mode", field="--headless",
                                     fix="add --headless, or open the web UI with `harness load ui --profile P`"))
    csv_prefix, csv_records = csv_destination(csv) if csv is not None else (None, None)
    if host is None and (overload := check_stack_load(users, stack)) is not None:
        raise ConfigError(Diagnostic("error", "--users", overload))
    run = LoadRun(profile, host or default_host(stack), _duration(duration), users, spawn_rate,
                  csv_prefix=csv_prefix, records_path=records or csv_records, thresholds=thresholds,
                  die_with_parent=True)
    run.host = prepare_target(run.host, outbound, out)
    out.print(f"running {run.locustfile.name} against {run.host} for {duration} with {users} users")
    run.start()
    with forward_stop_signals(run.stop) as interruption:
        result = run.wait()
    _print_summary(result)
    if csv_prefix is not None:
        out.print(f"Locust CSV: {csv_prefix}_stats.csv ...; records: {run.records_file}")
    if interruption.happened:
        raise typer.Exit(ExitCode.INTERRUPTED)
    raise typer.Exit(result.exit_code if result.exit_code >= 0 else 1)


def _print_summary(result: LoadResult) -> None:
    from harness.load.records import RequestRecord

    df = result.records
    s = summarize([RequestRecord(**row) for row in result.rows], result.duration_s)
    out.print(f"requests {int(s['requests'])}, failures {int(s['failures'])}, TTFT p50 {s['ttft_p50_ms']:.1f} ms "
              f"p95 {s['ttft_p95_ms']:.1f} ms, ITL p50 {s['itl_p50_ms']:.1f} ms p99 {s['itl_p99_ms']:.1f} ms, "
              f"output tokens {int(s['output_tokens'])}")
    if len(df) and df["error_kind"].notna().any():
        kinds = df["error_kind"].value_counts().to_dict()
        out.print("errors by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
        first = df[df["error_kind"].notna()].iloc[0]
        out.print(f"first error: {first['error_kind']}: {first['error']}")
    for line in result.output.splitlines():
        if line.startswith(("LLM thresholds", "  ok:", "  FAILED:", "user error:")) or "FAILED:" in line:
            out.print(line)


@app.command("ui")
@with_outbound_options
def ui(
    profile: str = typer.Option(..., "--profile", "-p"),
    host: str | None = typer.Option(None, "--host"),
    stack: str = typer.Option("default", "--stack"),
    web_port: int = typer.Option(8089, "--web-port"),
    users: int = typer.Option(10, "--users", "-u"),
    spawn_rate: float = typer.Option(10.0, "--spawn-rate", "-r"),
    records: Path | None = typer.Option(None, "--records", help="also append every request's RequestRecord to this JSON-lines file"),
    outbound: OutboundSettings = OutboundSettings(),
) -> None:
    """Open Locust's web UI on a profile (TTFT, TPOT and ITL rows, an LLM tab with charts).
    Ctrl-C, SIGINT or SIGTERM stop it (exit 130)."""
    locustfile = resolve_profile(profile)
    target = prepare_target(host or default_host(stack), outbound, out)
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--host", target, "--web-host", "127.0.0.1",
           "--web-port", str(web_port), "-u", str(users), "-r", str(spawn_rate)]
    if records is not None:
        cmd += ["--records", str(records)]
    out.print(f"Locust UI on http://127.0.0.1:{web_port} (target {target}); Ctrl-C stops it")
    proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=terminate_with_parent)

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    with forward_stop_signals(stop) as interruption:
        code = wait_until(proc, lambda: interruption.at + _UI_STOP_S)
    if interruption.happened:
        raise typer.Exit(ExitCode.INTERRUPTED)
    raise typer.Exit(code)
