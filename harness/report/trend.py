"""Trends over the last runs (nightly CI): per requirement its verdict
history and key figures (availability, TTFT p95, time to fail over, time to
recover), and the regressions called out. Pure: `trend()` takes the runs'
summaries with their figures; `harness.report.trend_io` reads them from disk.

A regression is either
- a requirement that passed in the previous run of the same target and fails
  in the latest, or
- a key figure of the latest run worse than its recent runs beyond run-to-run
  noise. The baseline is the median of the previous `BASELINE_RUNS` runs of
  the same target that have the figure (at least `MIN_BASELINE`, else the
  figure is not judged). Noise is judged robustly: 3 x 1.4826 x the median
  absolute deviation of those runs (three standard deviations when the noise
  is normal, one wild run does not widen it), never less than the figure's
  floor (`FLOORS`: what a run-to-run wobble of a good mesh on a loaded machine
  can be). Worse by more than that is a regression.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["RunFigures", "FigureRule", "FIGURE_RULES", "trend", "noise_band", "BASELINE_RUNS", "MIN_BASELINE",
           "NOISE_RULE"]

BASELINE_RUNS = 5
MIN_BASELINE = 3


@dataclass(frozen=True)
class FigureRule:
    label: str
    unit: str
    better: Literal["higher", "lower"]
    floor_abs: float  # never call less than this a regression
    floor_rel: float  # ... nor less than this share of the baseline


FIGURE_RULES: dict[str, FigureRule] = {
    "availability": FigureRule("availability", "", "higher", 0.005, 0.0),
    "ttft_p95_ms": FigureRule("TTFT p95", " ms", "lower", 20.0, 0.10),
    "time_to_failover_s": FigureRule("time to fail over", " s", "lower", 0.5, 0.10),
    "time_to_recover_s": FigureRule("time to recover", " s", "lower", 0.5, 0.10),
}
NOISE_RULE = (f"a figure regresses when it is worse than the median of the previous {BASELINE_RUNS} runs of the "
              f"same target (at least {MIN_BASELINE} needed) by more than 3 x 1.4826 x their median absolute "
              "deviation, and by more than the figure's floor ("
              + "; ".join(f"{r.label} {r.floor_abs:g}{r.unit}" + (f" or {r.floor_rel:.0%}" if r.floor_rel else "")
                          for r in FIGURE_RULES.values()) + ")")


@dataclass(frozen=True)
class RunFigures:
    """One run: its summary.json and per requirement its key figures."""

    summary: dict[str, Any]
    figures: dict[str, dict[str, float | None]]  # requirement id -> figure name -> value


def noise_band(baseline: Sequence[float], rule: FigureRule) -> tuple[float, float]:
    """(median, allowed worsening) of a baseline."""
    median = statistics.median(baseline)
    mad = statistics.median(abs(v - median) for v in baseline)
    return median, max(3 * 1.4826 * mad, rule.floor_abs, rule.floor_rel * abs(median))


def _verdicts(run: RunFigures) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in run.summary["requirements"]}


def trend(runs: Sequence[RunFigures]) -> dict[str, Any]:
    """The trend of `runs` (oldest first): JSON-ready, with `regressions` of the latest run."""
    ordered_runs = sorted(runs, key=lambda r: r.summary["started"])
    ids = sorted({r["id"] for run in ordered_runs for r in run.summary["requirements"]})
    requirements: dict[str, Any] = {}
    for rid in ids:
        figures: dict[str, list[float | None]] = {}
        for name in FIGURE_RULES:
            values = [run.figures.get(rid, {}).get(name) for run in ordered_runs]
            if any(v is not None for v in values):
                figures[name] = values
        requirements[rid] = {"verdicts": [_verdicts(run).get(rid) for run in ordered_runs], "figures": figures}
    regressions = _regressions(ordered_runs, requirements) if ordered_runs else []
    return {
        "runs": [{k: run.summary.get(k) for k in ("run_id", "started", "target", "profile", "score", "exit_code")}
                 for run in ordered_runs],
        "requirements": requirements, "regressions": regressions, "noise_rule": NOISE_RULE,
    }


def _regressions(runs: list[RunFigures], requirements: dict[str, Any]) -> list[dict[str, Any]]:
    latest = runs[-1]
    target = latest.summary["target"]
    earlier = [i for i, run in enumerate(runs[:-1]) if run.summary["target"] == target]
    out: list[dict[str, Any]] = []
    for rid, data in requirements.items():
        verdicts = data["verdicts"]
        now = verdicts[-1]
        if now is None:
            continue
        judged_before = [i for i in earlier if verdicts[i] not in (None, "not-applicable")]
        if now == "fail" and judged_before and verdicts[judged_before[-1]] == "pass":
            before = runs[judged_before[-1]].summary["run_id"]
            out.append({"requirement": rid, "kind": "verdict", "figure": None, "latest": now, "baseline": "pass",
                        "run_id": latest.summary["run_id"],
                        "message": f"{rid} passed in {before} and fails in {latest.summary['run_id']}"})
        for name, values in data["figures"].items():
            rule, value = FIGURE_RULES[name], values[-1]
            baseline = [v for v in (values[i] for i in earlier) if v is not None][-BASELINE_RUNS:]
            if value is None or len(baseline) < MIN_BASELINE:
                continue
            median, allowed = noise_band(baseline, rule)
            worse_by = (median - value) if rule.better == "higher" else (value - median)
            if worse_by > allowed:
                out.append({"requirement": rid, "kind": "figure", "figure": name, "latest": value,
                            "baseline": median, "allowed": round(allowed, 6), "run_id": latest.summary["run_id"],
                            "message": f"{rid}: {rule.label} {value:.4g}{rule.unit} is worse than its recent "
                                       f"median {median:.4g}{rule.unit} by {worse_by:.4g}{rule.unit} "
                                       f"(noise allows {allowed:.4g}{rule.unit})"})
    return out
