"""What a requirement gets to work with: the target, the observation source,
the SLO spec, where to put evidence, and how long its named timeouts are."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.certify.requirement import Requirement
from harness.certify.slo import SloSpec
from harness.observe import Observations
from harness.observe.prometheus import PromClient
from harness.targets.base import Target
from harness.verdict import Check, Verdict

if TYPE_CHECKING:
    from harness.localstack.selfcheck import Stalls

__all__ = ["RunContext", "Evidence"]


@dataclass
class Evidence:
    """Files a requirement leaves behind, under `reports/<run-id>/evidence/<requirement id>/`;
    paths are returned relative to the run directory."""

    run_dir: Path
    requirement: str
    files: list[str] = field(default_factory=list)

    @property
    def dir(self) -> Path:
        d = self.run_dir / "evidence" / self.requirement
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _keep(self, path: Path) -> str:
        rel = str(path.relative_to(self.run_dir))
        if rel not in self.files:
            self.files.append(rel)
        return rel

    def records(self, name: str, frame: pd.DataFrame) -> str:
        path = self.dir / f"{name}.csv"
        frame.to_csv(path, index=False)
        return self._keep(path)

    def json(self, name: str, data: Any) -> str:
        path = self.dir / f"{name}.json"
        path.write_text(json.dumps(data, indent=2, default=str))
        return self._keep(path)

    def attach(self, path: Path) -> str:
        """A file written elsewhere under the run directory (e.g. a fault journal)."""
        return self._keep(path)


@dataclass
class RunContext:
    requirement: Requirement
    target: Target
    target_kind: str  # local | kube
    gateway: str
    observations: Observations
    prom: PromClient | None
    slo: SloSpec
    evidence: Evidence
    chaos_configuration: dict[str, Any]
    duration_scale: float = 1.0
    fault: dict[str, Any] = field(default_factory=dict)  # a broken run's fault parameters (BrokenMesh.fault)
    # moments for the report's plots: fault_start / fault_end (epoch seconds)
    # and named marks (e.g. "failed over"), epoch seconds too
    timeline: dict[str, Any] = field(default_factory=dict)

    def mark(self, name: str, at: float | None) -> None:
        if at is not None and at == at and at != float("inf"):
            self.timeline.setdefault("marks", {})[name] = at

    def threshold(self, name: str) -> float:
        """The requirement's threshold `name`, from the SLO spec when it names
        one and the spec has the figure, else the requirement's own value."""
        t = self.requirement.thresholds[name]
        if t.slo:
            objective, _, figure = t.slo.partition(".")
            found = self.slo.objective(objective)
            value = found.figure(figure) if found else None
            if value is not None:
                return value
        return t.value

    def slo_promql(self, name: str, start: float, end: float) -> tuple[str | None, float | None]:
        """(query, value): the threshold `name`'s SLO figure computed by the
        PromQL the SLO spec gives for it, over [start, end] (`$window` is the
        window, evaluated at its end, after a scrape that follows it). No
        query: (None, None); no answer or no data: (query, None)."""
        from harness.certify.slo import promql_for_window
        from harness.observe.prometheus import PromError

        t = self.requirement.thresholds[name]
        objective_name, _, figure = (t.slo or "").partition(".")
        objective = self.slo.objective(objective_name) if t.slo else None
        query = objective.query(figure) if objective else None
        if query is None:
            return None, None
        query = promql_for_window(query, end - start)
        if self.prom is None:
            return query, None
        try:
            self.prom.wait_for_scrape_after(end)
            result = self.prom.instant(query, end + 1.0)
        except PromError:
            return query, None
        value = result[0][1] if result else None
        return query, None if value is None or value != value else value

    def timeout(self, name: str) -> float:
        return self.requirement.timeouts[name] * self.duration_scale

    def stack_lag(self, start: float, end: float) -> float | None:
        """The local stack's largest event-loop lag (s) between `start` and `end`;
        0 for a cluster (the real thing adds no test-double latency), None when
        it was not observed."""
        if self.target_kind != "local":
            return 0.0
        from harness.localstack.selfcheck import lag_query
        from harness.observe.prometheus import PromError

        if self.prom is None:
            return None
        try:
            self.prom.wait_for_scrape_after(end)
            result = self.prom.instant(lag_query(max(1.0, end - start + 1.0)), end + 1.0)
        except PromError:
            return None
        return result[0][1] if result else None

    def stack_stalls(self, start: float, end: float) -> Stalls | None:
        """When in [start, end] the local stack's loops lagged past the bound;
        None when that was not observed (or the target is not local)."""
        from harness.localstack.selfcheck import STALLS_STEP_S, Stalls, stalls_query
        from harness.observe.prometheus import PromError

        if self.target_kind != "local" or self.prom is None:
            return None
        try:
            series = self.prom.range(stalls_query(), start, end + STALLS_STEP_S, STALLS_STEP_S)
        except PromError:
            return None
        if not series or not series[0][1]:
            return None
        stalls = Stalls.from_points(series[0][1])
        # what a reader needs to see why requests were or were not judged clear of the stalls
        self.evidence.json("stalls", {"window": [start, end], "lag_by_second": series[0][1],
                                      "stalled_seconds": stalls.stalled_seconds, "seconds": stalls.seconds,
                                      "intervals": stalls.intervals, "covered_share": stalls.share(start, end)})
        return stalls

    def judge_latency(self, check: Check, start: float, end: float,
                      rejudge: Callable[[Stalls], Check] | None = None) -> Check:
        """A latency check that failed stands only while the stack kept up:
        with its own event-loop lag above the bound (or unobserved) during the
        window, the verdict is inconclusive, with the reason (a test double
        must never be the reason for a verdict). Subtracting the lag from the
        figure would not do: a stack past its capacity queues every stream
        behind the stall, so the latency it adds can be many times its largest
        stall. Lag only adds latency, so a pass stands. A check already
        inconclusive (too few samples, say) keeps that verdict, and an
        overloaded stack is named first in its reason, as the likelier cause:
        an overloaded stack completes fewer requests in the same window.

        `rejudge` computes the same check on the requests clear of given
        stalls. With it, a failure under brief stalls (at most
        `MAX_STALLED_SHARE` of the window's seconds: a hiccup, not an overload) is
        judged again without the requests they touched, and a failure there
        stands: the mesh, not the double, made those requests slow."""
        from harness.localstack.selfcheck import MAX_STALLED_SHARE, stack_lag_verdict

        if check.verdict not in (Verdict.FAIL, Verdict.INCONCLUSIVE) or (
                check.verdict is Verdict.FAIL and not isinstance(check.observed, float)):
            return check
        lag = self.stack_lag(start, end)
        keeps_up, why = stack_lag_verdict(lag)
        if keeps_up:
            return check
        if check.verdict is Verdict.INCONCLUSIVE:
            return check.inconclusive(f"{why} ({check.reason})")
        if rejudge is None or lag is None:
            return check.inconclusive(why)
        # the reason says why the re-judge did not apply: each cause wants a different fix
        stalls = self.stack_stalls(start, end)
        if stalls is None:
            return check.inconclusive(f"{why}; the stalls could not be located in time to judge without them")
        share = stalls.share(start, end)
        if stalls.stalled_share > MAX_STALLED_SHARE:
            return check.inconclusive(f"{why}; the stack lagged in {stalls.stalled_seconds} of the window's "
                                      f"{stalls.seconds} seconds (more than {MAX_STALLED_SHARE:.0%}: an overload, "
                                      f"not a hiccup)")
        again = rejudge(stalls)
        if again.verdict is Verdict.FAIL:
            return replace(again, reason=(
                f"{again.reason}, judged on the requests clear of the local stack's "
                f"{len(stalls.intervals)} brief stall(s) (lag up to {stalls.max_lag_s * 1000:.0f} ms, "
                f"{share:.0%} of the window)"))
        return check.inconclusive(f"{why}; on the requests clear of the stalls ({share:.0%} of the window) "
                                  f"the check reads {again.verdict.value}: {again.reason}")
