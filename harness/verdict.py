"""Verdicts and checks: what a requirement concluded, with the figure it saw,
the threshold it held that figure to, and where the evidence is. Pure.

A check that cannot be computed (no data, too few samples, Prometheus down)
is *inconclusive*, never *pass*: `Check.judge` refuses to pass a missing value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

__all__ = ["Verdict", "Check", "combine", "Comparison"]

Comparison = Literal["<=", ">=", "==", "within"]


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NOT_APPLICABLE = "not-applicable"


# worst first: one failed check fails the requirement, a missing figure makes it inconclusive
_SEVERITY = {Verdict.FAIL: 3, Verdict.INCONCLUSIVE: 2, Verdict.PASS: 1, Verdict.NOT_APPLICABLE: 0}


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """The requirement's verdict from its checks' (no checks at all: inconclusive)."""
    found = list(verdicts)
    if not found:
        return Verdict.INCONCLUSIVE
    return max(found, key=lambda v: _SEVERITY[v])


@dataclass(frozen=True)
class Check:
    """One judged figure of a requirement."""

    requirement: str
    name: str  # what was checked, e.g. "v2 share"
    verdict: Verdict
    observed: float | str | None
    threshold: float | str | None
    unit: str = ""
    reason: str = ""  # why this verdict, in words a reader of the report understands
    evidence: tuple[str, ...] = field(default_factory=tuple)  # paths relative to the run directory

    @classmethod
    def judge(cls, requirement: str, name: str, observed: float | None, op: Comparison,
              threshold: float | tuple[float, float], unit: str = "", samples: int | None = None,
              min_samples: int = 1, evidence: tuple[str, ...] = ()) -> Check:
        """Compare `observed` with `threshold`; inconclusive when there is no figure
        or fewer than `min_samples` samples behind it."""
        shown: float | str = (f"[{threshold[0]:g}, {threshold[1]:g}]" if isinstance(threshold, tuple)
                              else threshold)
        if observed is None or (isinstance(observed, float) and math.isnan(observed)):
            return cls(requirement, name, Verdict.INCONCLUSIVE, None, shown, unit,
                       "no data to compute the figure from", evidence)
        if samples is not None and samples < min_samples:
            return cls(requirement, name, Verdict.INCONCLUSIVE, observed, shown, unit,
                       f"{samples} samples, {min_samples} needed for the stated confidence", evidence)
        if isinstance(threshold, tuple):
            ok = threshold[0] <= observed <= threshold[1]
        elif op == "<=":
            ok = observed <= threshold
        elif op == ">=":
            ok = observed >= threshold
        else:
            ok = observed == threshold
        words = "within" if isinstance(threshold, tuple) else op
        reason = f"{observed:g}{unit} {'is' if ok else 'is not'} {words} {shown}{unit}"
        return cls(requirement, name, Verdict.PASS if ok else Verdict.FAIL, observed, shown, unit, reason, evidence)

    def inconclusive(self, reason: str) -> Check:
        """The same check, demoted because its measurement cannot be trusted."""
        if self.verdict is Verdict.NOT_APPLICABLE:
            return self
        return replace(self, verdict=Verdict.INCONCLUSIVE, reason=reason)
