"""Run requirements one after another and collect their verdicts.

The runner knows requirements only through the registry's `Requirement`
objects: it builds each one's context, times it, and turns anything it
raises into an inconclusive verdict with the reason (a harness that crashed
has not shown that the mesh keeps its promise, nor that it breaks it)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import Requirement
from harness.verdict import Check, Verdict, combine

__all__ = ["RequirementResult", "run_requirement", "run_all"]


@dataclass
class RequirementResult:
    requirement: Requirement
    verdict: Verdict
    checks: list[Check]
    started: float  # epoch seconds
    duration_s: float
    evidence: list[str] = field(default_factory=list)
    timeline: dict[str, Any] = field(default_factory=dict)  # fault window and marks, epoch seconds

    @property
    def reason(self) -> str:
        worst = [c for c in self.checks if c.verdict is self.verdict]
        return "; ".join(f"{c.name}: {c.reason}" for c in worst)


def run_requirement(requirement: Requirement, context: RunContext) -> RequirementResult:
    started, t0 = time.time(), time.monotonic()
    queries_before = len(context.prom.log.entries) if context.prom else 0
    try:
        checks = requirement.run(context)
    except Exception as exc:  # any failure of the harness itself, reported, never a pass
        where = traceback.extract_tb(exc.__traceback__)[-1]
        checks = [Check(requirement.id, "run", Verdict.INCONCLUSIVE, None, None, "",
                        f"the check could not run: {type(exc).__name__}: {exc} "
                        f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno})")]
    if context.prom and len(context.prom.log.entries) > queries_before:
        context.evidence.json("promql", context.prom.log.entries[queries_before:])
    return RequirementResult(requirement, combine(c.verdict for c in checks), checks, started,
                             time.monotonic() - t0, list(context.evidence.files), dict(context.timeline))


def run_all(requirements: list[Requirement], make_context: Callable[[Requirement], RunContext],
            progress: Callable[[int, Requirement], None] | None = None,
            finished: Callable[[RequirementResult], None] | None = None) -> list[RequirementResult]:
    """`progress` is told before each requirement starts, `finished` after it is judged."""
    results = []
    for i, requirement in enumerate(requirements):
        if progress:
            progress(i, requirement)
        results.append(run_requirement(requirement, make_context(requirement)))
        if finished:
            finished(results[-1])
    return results
