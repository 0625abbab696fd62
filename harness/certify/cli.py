"""`harness certify`: run the requirement catalogue against a target and say,
per requirement, whether the mesh keeps its promise.

Exit codes: 0 all passed, 1 any failed, 2 bad input (before anything ran),
3 nothing failed but something was inconclusive."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.load.gateway import apply_settings, prepare_target, with_outbound_options
from harness.outbound import OutboundSettings
from harness.report.figures import figure_text, headline, ordered
from harness.report.live import LiveView

__all__ = ["certify_command"]

_STYLE = {"pass": "green", "fail": "bold red", "inconclusive": "yellow", "not-applicable": "dim"}


def _list(console: Console) -> None:
    from harness.certify.registry import discover

    table = Table(title="Requirements", show_lines=False)
    for col in ("id", "feature", "kind", "profiles", "title", "must fail on", "P(false failure)"):
        table.add_column(col, overflow="fold")
    for r in discover():
        profiles = ", ".join(sorted(r.profiles))
        if "smoke" not in r.profiles and r.why_not_smoke:
            profiles += f" ({r.why_not_smoke})"
        chance = "measured" if r.false_failure is None else f"{r.false_failure:.1g}"
        table.add_row(r.id, r.feature, r.kind, profiles, r.title, r.broken.description, chance)
    console.print(table)


@with_outbound_options
def certify_command(
    target: str = typer.Option("local", "--target", help="local (the embedded stack) or kube"),
    profile: str = typer.Option("smoke", "--profile", help="smoke (minutes) or full (everything)"),
    istio: list[Path] = typer.Option(None, "--istio", help="Istio YAML directory for the stack certify starts"),
    slo: Path = typer.Option(None, "--slo", help="SLO spec (default: reference-stack/slo/reference.yaml)"),
    requirement: list[str] = typer.Option(None, "--requirement", help="run only this requirement (repeatable)"),
    stack_name: str = typer.Option(None, "--stack-name", help="use this running local stack instead of starting one"),
    reports: Path = typer.Option(Path("reports"), "--reports", help="where reports/<run-id>/ is written"),
    duration_scale: float = typer.Option(1.0, "--duration-scale", help="scale every named timeout"),
    kube_context: str = typer.Option(None, "--kube-context", help="kubeconfig context (--target kube)"),
    namespace: str = typer.Option("llm", "--namespace", help="namespace of the LLM services"),
    gateway: str = typer.Option(None, "--gateway", help="ingress gateway URL (--target kube)"),
    prometheus: str = typer.Option(None, "--prometheus", help="Prometheus URL (--target kube)"),
    list_only: bool = typer.Option(False, "--list", help="print the requirement catalogue and exit"),
    outbound: OutboundSettings = OutboundSettings(),
) -> None:
    """Certify a mesh: every requirement of the profile, with verdicts and evidence."""
    from harness.certify.session import CertifyOptions, certify

    # wide when piped (CI logs), the terminal's width otherwise
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    if list_only:
        _list(console)
        return
    if gateway:
        # an https gateway's CA, client certificate, token, headers and proxy: checked
        # with one request before anything runs, then used by every probe and load
        gateway = prepare_target(gateway, outbound, console, url_option="--gateway")
    else:
        apply_settings(outbound, console)
    opts = CertifyOptions(target=target, profile=profile, istio=list(istio or []), slo=slo,  # type: ignore[arg-type]
                          requirements=list(requirement or []), stack_name=stack_name, reports_dir=reports,
                          duration_scale=duration_scale, kube_context=kube_context, namespace=namespace,
                          gateway=gateway, prometheus=prometheus)

    with LiveView(console) as live:
        run_dir, summary, _ = certify(opts, live.started, finished=live.finished)
    table = Table(title=f"Certification {summary['run_id']} ({summary['target']}, {summary['profile']})")
    for col in ("requirement", "feature", "verdict", "observed", "threshold", "time"):
        table.add_column(col, overflow="fold")
    for r in ordered(summary["requirements"]):
        worst = headline(r)
        observed = figure_text(worst["observed"], worst["unit"]) if worst else "-"
        threshold = figure_text(worst["threshold"], worst["unit"]) if worst else "-"
        if worst and worst["name"] not in ("run",):
            observed = f"{worst['name']}: {observed}"
        table.add_row(r["id"], r["feature"], f"[{_STYLE[r['verdict']]}]{r['verdict']}[/]", observed, threshold,
                      f"{r['duration_s']:.1f}s")
    console.print(table)
    for r in summary["requirements"]:
        if r["verdict"] in ("fail", "inconclusive"):
            console.print(f"{r['verdict']}: {r['id']}: {r['reason']}\n  rerun: {r['rerun']}", soft_wrap=True)
    features = ", ".join(f"{k} {v['result']}" for k, v in summary["features"].items())
    console.print(f"score {summary['score']} | {features}")
    console.print(f"reports: {run_dir}/ (summary.html, summary.json, junit.xml, allure-results/)")
    raise typer.Exit(summary["exit_code"])
