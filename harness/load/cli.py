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
from harness.load.runner import LoadRun, available_profiles, resolve_profile
from harness.load.thresholds import Thresholds, summarize

app = typer.Typer(help="LLM load profiles on Locust (headless runs, thresholds, the web UI)",
                  invoke_without_command=True, no_args_is_help=False)
out = Console(highlight=False)


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


@app.callback()
def load(
    ctx: typer.Context,
    profile: str | None = typer.Option(None, "--profile", "-p", help=f"one of {', '.join(available_profiles())} or a locustfile"),
    headless: bool = typer.Option(False, "--headless", help="run without the web UI"),
    duration: str = typer.Option("60s", "--duration", "-t"),
    users: int = typer.Option(10, "--users", "-u"),
    spawn_rate: float = typer.Option(10.0, "--spawn-rate", "-r"),
    host: str | None = typer.Option(None, "--host", help="base URL (default: the local stack's gateway)"),
    stack: str = typer.Option("default", "--stack", help="local stack whose gateway is the default host"),
    csv: Path | None = typer.Option(None, "--csv", help="directory (or prefix) for Locust's CSV files"),
    records: Path | None = typer.Option(None, "--records", help="JSON-lines file of RequestRecords"),
    max_error_rate: float | None = typer.Option(None, "--max-error-rate"),
    max_ttft_p95_ms: float | None = typer.Option(None, "--max-ttft-p95-ms"),
    max_ttft_p99_ms: float | None = typer.Option(None, "--max-ttft-p99-ms"),
    max_itl_p99_ms: float | None = typer.Option(None, "--max-itl-p99-ms"),
    min_output_tokens_per_s: float | None = typer.Option(None, "--min-output-tokens-per-s"),
) -> None:
    """Run a profile headless: `harness load --profile chat_stream --headless --duration 60s --csv out/`."""
    if ctx.invoked_subcommand is not None:
        return
    if profile is None:
        raise ConfigError(Diagnostic("error", "--profile", "no profile given",
                                     fix=f"pass --profile with one of {', '.join(available_profiles())}"))
    if not headless:
        raise ConfigError(Diagnostic("error", "harness load", "pick a mode", field="--headless",
                                     fix="add --headless, or open the web UI with `harness load ui --profile P`"))
    if records is None and csv is not None:
        records = (csv / "records.jsonl") if csv.suffix == "" else csv.with_suffix(".records.jsonl")
    csv_prefix = (csv / "locust") if csv is not None and csv.suffix == "" else csv
    thresholds = Thresholds(max_error_rate=max_error_rate, max_ttft_p95_ms=max_ttft_p95_ms,
                            max_ttft_p99_ms=max_ttft_p99_ms, max_itl_p99_ms=max_itl_p99_ms,
                            min_output_tokens_per_s=min_output_tokens_per_s)
    run = LoadRun(profile, host or default_host(stack), _duration(duration), users, spawn_rate,
                  csv_prefix=csv_prefix, records_path=records, thresholds=thresholds)
    out.print(f"running {run.locustfile.name} against {run.host} for {duration} with {users} users")
    run.start()
    try:
        result = run.wait()
    except KeyboardInterrupt:
        run.stop()
        result = run.wait(timeout=run.stop_timeout_s + 10)
    _print_summary(result)
    if csv_prefix is not None:
        out.print(f"Locust CSV: {csv_prefix}_stats.csv ...; records: {run.records_file}")
    raise typer.Exit(result.exit_code if result.exit_code >= 0 else 1)


def _print_summary(result) -> None:  # type: ignore[no-untyped-def]
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
        if line.startswith(("LLM thresholds", "  ok:", "  FAILED:")) or "FAILED:" in line:
            out.print(line)


@app.command("ui")
def ui(
    profile: str = typer.Option(..., "--profile", "-p"),
    host: str | None = typer.Option(None, "--host"),
    stack: str = typer.Option("default", "--stack"),
    web_port: int = typer.Option(8089, "--web-port"),
    users: int = typer.Option(10, "--users", "-u"),
    spawn_rate: float = typer.Option(10.0, "--spawn-rate", "-r"),
) -> None:
    """Open Locust's web UI on a profile (TTFT, TPOT and ITL rows, an LLM tab)."""
    locustfile = resolve_profile(profile)
    target = host or default_host(stack)
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--host", target, "--web-host", "127.0.0.1",
           "--web-port", str(web_port), "-u", str(users), "-r", str(spawn_rate)]
    out.print(f"Locust UI on http://127.0.0.1:{web_port} (target {target}); Ctrl-C stops it")
    proc = subprocess.Popen(cmd, start_new_session=True)
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    raise typer.Exit(0 if code in (0, -signal.SIGTERM) else code)
