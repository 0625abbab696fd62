"""Every conformance requirement passes on the reference stack and fails on
the broken mesh configuration it names, on one stack broken and restored
through the mesh's admin API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.certify.broken import broken_mesh
from harness.certify.registry import discover
from harness.certify.requirement import Requirement
from harness.certify.runner import run_requirement
from harness.certify.session import TargetSession, context_for, local_session
from harness.certify.slo import load_slo
from harness.localstack.testing import running_stack
from harness.verdict import Verdict

pytestmark = pytest.mark.integration

# resilience requirements run a fault under load for tens of seconds each,
# full-only ones wait out mesh timers, autoscaling ones the HPA's windows, and
# the TTFT SLO samples a p99 three times over, once under a 1.5 s delay: slow
CATALOGUE = [pytest.param(r, id=r.id, marks=[pytest.mark.slow] if r.kind == "resilience" or "smoke" not in r.profiles
                          or r.feature == "autoscaling" or r.id == "latency.ttft-slo" else []) for r in discover()]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetSession]:
    # running_stack points HARNESS_STATE_DIR at the private state dir while it
    # runs, so chaos actions find the stack by name
    with running_stack(state_dir=tmp_path_factory.mktemp("state")) as handle:
        yield local_session(handle.state)


@pytest.mark.parametrize("requirement", CATALOGUE)
def test_passes_on_the_reference_mesh_and_fails_on_its_broken_config(
        requirement: Requirement, session: TargetSession, tmp_path: Path) -> None:
    slo = load_slo()
    good = run_requirement(requirement, context_for(requirement, tmp_path / "good", session, slo))
    assert good.verdict is Verdict.PASS, good.reason
    with broken_mesh(session.target, requirement) as fault:
        bad = run_requirement(requirement, context_for(requirement, tmp_path / "broken", session, slo, fault=fault))
    evidence = {e: (tmp_path / "broken" / e).read_text()[:1000] for e in bad.evidence if e.endswith(".json")}
    assert bad.verdict is Verdict.FAIL, \
        f"{requirement.broken.description}: {bad.verdict.value}: {bad.reason}; evidence: {evidence}"
    assert bad.evidence and (tmp_path / "broken" / bad.evidence[0]).is_file()
    # restored: the promise holds again on the same stack
    again = run_requirement(requirement, context_for(requirement, tmp_path / "again", session, slo))
    assert again.verdict is Verdict.PASS, again.reason


@pytest.mark.slow
def test_the_slo_promql_agrees_with_the_records_and_fails_with_them(session: TargetSession, tmp_path: Path) -> None:
    """latency.ttft-slo judges availability twice: from the client's records
    and from the mesh's telemetry by the SLO's PromQL. With a 20 % abort on
    the catch-all both fail, and they agree within a few points."""
    from harness.certify.requirement import BrokenMesh

    requirement = next(r for r in discover() if r.id == "latency.ttft-slo")

    def aborting(vs: dict[str, Any]) -> dict[str, Any]:
        for rule in vs["spec"]["http"]:
            if rule.get("name") == "default-canary":
                rule["fault"] = {"abort": {"httpStatus": 503, "percentage": {"value": 20.0}}}
        return vs

    aborted = replace(requirement, broken=BrokenMesh("20 % aborted", "VirtualService", "llm-chat", aborting))
    with broken_mesh(session.target, aborted):
        result = run_requirement(requirement, context_for(requirement, tmp_path, session, load_slo()))
    checks = {c.name: c for c in result.checks}
    records, mesh = checks["availability"], checks["availability (the SLO's PromQL)"]
    assert records.verdict is Verdict.FAIL and mesh.verdict is Verdict.FAIL, (records.reason, mesh.reason)
    assert isinstance(records.observed, float) and isinstance(mesh.observed, float)
    assert 0.65 < records.observed < 0.95 and abs(records.observed - mesh.observed) < 0.05, (records, mesh)


@pytest.mark.slow
def test_a_brief_stall_of_the_stack_does_not_hide_a_slow_mesh(session: TargetSession, tmp_path: Path) -> None:
    """What a loaded 2-core machine does to the stack now and then, on cue:
    every catch-all engine is stopped (SIGSTOP) for 0.4 s in the middle of
    the load, and their loop-lag gauges show it. On a mesh that delays every
    request 1.5 s the TTFT failure stands, judged on the requests clear of
    the stall, instead of being demoted to inconclusive by the hiccup."""
    import os
    import signal
    import threading

    import httpx

    from harness.targets.local import LocalTarget

    requirement = next(r for r in discover() if r.id == "latency.ttft-slo")
    assert isinstance(session.target, LocalTarget)
    pods = httpx.get(f"{session.target.admin}/pods", params={"selector": "app=llm-chat"}, timeout=10).json()["pods"]
    pids = [p["pid"] for p in pods if p["pid"] is not None and p["labels"].get("version") in ("v1", "v2")]
    assert pids, pods
    done = threading.Event()

    def stall() -> None:
        if done.wait(8.0):  # the requirement ended first: no stall
            return
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            done.wait(0.4)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)

    staller = threading.Thread(target=stall, daemon=True)
    with broken_mesh(session.target, requirement) as fault:
        staller.start()
        try:
            bad = run_requirement(requirement, context_for(requirement, tmp_path, session, load_slo(), fault=fault))
        finally:
            done.set()
            staller.join(5)
    ttft = next(c for c in bad.checks if c.name == "ttft p95")
    assert ttft.verdict is Verdict.FAIL, ttft.reason
    assert "clear of the local stack's" in ttft.reason, ttft.reason
