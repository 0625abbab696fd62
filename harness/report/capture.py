"""Evidence the report needs beyond the verdicts, written while the target is
still up: for each resilience requirement its timeline (`timeline.json`, see
`harness.report.timeline`) and the plot of it (`timeline.svg`, attached to
the Allure result). The replicas come from Prometheus
(`kube_deployment_status_replicas_available`, kube-state-metrics' name, the
same query on both targets); without Prometheus the plot has no replica panel."""

from __future__ import annotations

import pandas as pd

from harness.certify.context import RunContext
from harness.certify.runner import RequirementResult
from harness.observe.prometheus import PromError
from harness.report.evidence import journal_entries
from harness.report.plots import timeline_svg
from harness.report.timeline import build_timeline, fault_windows

__all__ = ["write_timeline", "REPLICAS_QUERY"]

REPLICAS_QUERY = 'sum by (deployment) (kube_deployment_status_replicas_available{{namespace="{namespace}"}})'


def _slo_lines(ctx: RunContext) -> dict[str, float]:
    lines: dict[str, float] = {}
    thresholds = ctx.requirement.thresholds
    if "availability" in thresholds:
        lines["availability"] = ctx.threshold("availability")
    # the TTFT line of the objective the requirement is held to, else the
    # catch-all chat objective's (the traffic its load sends)
    names = [t.slo.partition(".")[0] for t in thresholds.values() if t.slo] + ["chat"]
    for name in names:
        objective = ctx.slo.objective(name)
        ttft = objective.figure("ttft_p95") if objective else None
        if ttft is not None:
            lines["ttft_p95_ms"] = ttft * 1000.0
            break
    return lines


def _replicas(ctx: RunContext, start: float, end: float) -> dict[str, list[tuple[float, float]]]:
    if ctx.prom is None:
        return {}
    namespace = str(ctx.chaos_configuration.get("harness_namespace", "llm"))
    try:
        series = ctx.prom.range(REPLICAS_QUERY.format(namespace=namespace), start, end, 1.0)
    except PromError:
        return {}
    return {labels.get("deployment", "?"): points for labels, points in series if points}


def write_timeline(ctx: RunContext, result: RequirementResult) -> list[str]:
    """Write the timeline and its plot for a resilience requirement that left
    records; the evidence paths written (relative to the run directory)."""
    if ctx.requirement.kind != "resilience":
        return []
    run_dir = ctx.evidence.run_dir
    csv = next((run_dir / p for p in result.evidence if p.endswith("records.csv")), None)
    if csv is None or not csv.is_file():
        return []
    records = pd.read_csv(csv)
    entries = journal_entries(run_dir, result.evidence)
    end = result.started + result.duration_s
    timeline = build_timeline(records, fault_windows(entries), _replicas(ctx, result.started, end), _slo_lines(ctx))
    written = [ctx.evidence.json("timeline", timeline)]
    svg = ctx.evidence.dir / "timeline.svg"
    svg.write_text(timeline_svg(timeline, ctx.requirement.id), encoding="utf-8")
    written.append(ctx.evidence.attach(svg))
    return written
