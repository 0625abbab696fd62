"""`summary.json`: every requirement with its verdict, figures, thresholds,
evidence and rerun command; the run score (in the manner of krkn / Litmus:
weighted share of judged requirements that passed) and a per-feature result
(in the manner of Gateway API conformance: success / partial / failure)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.certify.runner import RequirementResult
from harness.verdict import Verdict

__all__ = ["RunInfo", "build_summary", "write_summary", "score", "feature_results", "exit_code", "SUMMARY_VERSION"]

SUMMARY_VERSION = 1


@dataclass
class RunInfo:
    run_id: str
    target: str
    profile: str
    started: float
    finished: float
    rerun_base: list[str] = field(default_factory=list)  # `harness certify --target ...` without --requirement
    istio: list[str] = field(default_factory=list)
    slo: str = ""
    duration_scale: float = 1.0


def score(results: Sequence[RequirementResult]) -> float | None:
    """Weighted percentage of judged requirements (not not-applicable) that passed."""
    judged = [r for r in results if r.verdict is not Verdict.NOT_APPLICABLE]
    total = sum(r.requirement.weight for r in judged)
    if total == 0:
        return None
    return round(100.0 * sum(r.requirement.weight for r in judged if r.verdict is Verdict.PASS) / total, 1)


def feature_results(results: Sequence[RequirementResult]) -> dict[str, dict[str, Any]]:
    """Per feature: failure if any requirement failed, success if all passed,
    partial otherwise (some inconclusive or not applicable)."""
    out: dict[str, dict[str, Any]] = {}
    for feature in sorted({r.requirement.feature for r in results}):
        mine = [r for r in results if r.requirement.feature == feature]
        counts = {v.value: sum(1 for r in mine if r.verdict is v) for v in Verdict}
        if counts[Verdict.FAIL.value]:
            result = "failure"
        elif counts[Verdict.PASS.value] == len(mine):
            result = "success"
        else:
            result = "partial"
        out[feature] = {"result": result, "requirements": [r.requirement.id for r in mine], **counts}
    return out


def exit_code(results: Sequence[RequirementResult]) -> int:
    """0 all pass, 1 any fail, 3 nothing failed but something inconclusive."""
    verdicts = {r.verdict for r in results}
    if Verdict.FAIL in verdicts:
        return 1
    if Verdict.INCONCLUSIVE in verdicts or not results:
        return 3
    return 0


def _figure(value: object) -> object:
    return round(value, 6) if isinstance(value, float) else value


def build_summary(info: RunInfo, results: Sequence[RequirementResult]) -> dict[str, Any]:
    requirements = []
    for r in results:
        req = r.requirement
        requirements.append({
            "id": req.id, "title": req.title, "feature": req.feature, "kind": req.kind,
            "profiles": sorted(req.profiles), "verdict": r.verdict.value, "reason": r.reason,
            "checks": [{"name": c.name, "verdict": c.verdict.value, "observed": _figure(c.observed),
                        "threshold": _figure(c.threshold), "unit": c.unit, "reason": c.reason,
                        "evidence": list(c.evidence)} for c in r.checks],
            "started": r.started, "duration_s": round(r.duration_s, 3), "evidence": r.evidence,
            "timeline": r.timeline,
            "broken_mesh": req.broken.description,
            "false_failure_probability": req.false_failure,
            "rerun": shlex.join([*info.rerun_base, "--requirement", req.id]),
        })
    counts = {v.value: sum(1 for r in results if r.verdict is v) for v in Verdict}
    return {
        "version": SUMMARY_VERSION, "run_id": info.run_id, "target": info.target, "profile": info.profile,
        "started": info.started, "finished": info.finished, "duration_s": round(info.finished - info.started, 3),
        "istio": info.istio, "slo": info.slo, "duration_scale": info.duration_scale,
        "score": score(results), "counts": counts, "exit_code": exit_code(results),
        "features": feature_results(results), "requirements": requirements,
    }


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    path = run_dir / "summary.json"
    path.write_text(json.dumps(summary, indent=2))
    return path
