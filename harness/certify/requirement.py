"""What a requirement is: one promise of the reference stack, with everything
needed to judge it and to show that the judgement can fail.

Each requirement lives in its own module under `harness.certify.requirements`
and exposes `REQUIREMENT`; the registry finds it, the runner never names it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from harness.verdict import Check

if TYPE_CHECKING:
    from harness.certify.context import RunContext

__all__ = ["Requirement", "Threshold", "BrokenMesh", "BrokenKind", "Profile", "PROFILES", "Observation"]

Profile = Literal["smoke", "full"]
PROFILES: tuple[Profile, ...] = ("smoke", "full")
# What a requirement needs to see, answered by the target's observation source.
# What a broken variant may rewrite: an Istio object, or an HPA (autoscaling/v2)
BrokenKind = Literal["VirtualService", "DestinationRule", "HorizontalPodAutoscaler"]
Observation = Literal["served-by", "mesh-requests", "ready-replicas", "fault-window", "latency"]


@dataclass(frozen=True)
class Threshold:
    """A limit with its unit; `slo` names the SLO figure that overrides it
    (`objective.figure`, e.g. `chat.availability`)."""

    value: float
    unit: str
    slo: str | None = None


@dataclass(frozen=True)
class BrokenMesh:
    """What must make the requirement fail: one Istio object or HPA rewritten by
    `rewrite` (given a copy of the object as read), and/or a fault the mesh
    cannot absorb (`fault`: parameters the requirement's fault takes instead
    of its own, read through `RunContext.fault`)."""

    description: str
    kind: BrokenKind | None = None
    name: str | None = None
    rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    fault: dict[str, Any] = field(default_factory=dict)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.rewrite is not None
        return self.rewrite(copy.deepcopy(obj))


@dataclass(frozen=True)
class Requirement:
    id: str  # `feature.name`, e.g. routing.canary-split
    title: str
    feature: str  # the mesh feature, as in a Gateway API conformance profile
    profiles: frozenset[Profile]
    observes: tuple[Observation, ...]
    thresholds: dict[str, Threshold]
    timeouts: dict[str, float]  # named, in seconds; the runner scales them with --duration-scale
    broken: BrokenMesh
    run: Callable[[RunContext], list[Check]]
    kind: Literal["conformance", "resilience"] = "conformance"
    weight: int = 1  # in the run score (krkn: critical 3, warning 1)
    # the most requests its traffic holds in flight at once (a Locust user or a
    # concurrent probe holds one): `harness certify` refuses a local stack whose
    # measured capacity is smaller before anything runs (16: the probe sender's default)
    peak_streams: int = 16
    why_not_smoke: str = ""  # said by --list when the requirement is in `full` only
    # P(a stack keeping the promise is judged failed), when the sampling gives it;
    # None: not analytical (faults under load), measured by benchmarks/certify_runs.py
    false_failure: float | None = None
    false_failure_basis: str = ""
    notes: dict[str, str] = field(default_factory=dict)
