"""Every conformance requirement passes on the reference stack and fails on
the broken mesh configuration it names, on one stack broken and restored
through the mesh's admin API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
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
from harness.pytest_plugin import slow_to_run
from harness.verdict import Verdict

pytestmark = pytest.mark.integration

# beyond the plugin's slow ones: resilience requirements run a fault under
# load for tens of seconds each (good, broken and restored), and the TTFT SLO
# samples its p95 three times over, once under a 1.5 s delay
CATALOGUE = [pytest.param(r, id=r.id, marks=[pytest.mark.slow] if slow_to_run(r) or r.kind == "resilience"
                          or r.id == "latency.ttft-slo" else []) for r in discover()]


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


def test_stickiness_is_inconclusive_not_failed_when_a_pod_goes_in_its_window(
        session: TargetSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ring hash moves the users of a pod that leaves. Halfway through the
    window the pod that served most of the first half is deleted (a real
    delete; the ReplicaSet starts its replacement): its users land elsewhere,
    which a share alone would call a broken affinity. The verdict is
    inconclusive and names the pod, never a failure of a mesh that kept its
    promise."""
    import time

    import pandas as pd

    from harness.certify.requirements import affinity_stickiness as stickiness

    replicas = len(session.target.list_pods(stickiness.SERVICE_PODS))
    real_send = stickiness.send
    victims: list[str] = []

    def send_with_a_delete_halfway(gateway: str, probes: list[Any], **kwargs: Any) -> pd.DataFrame:
        half = len(probes) // 2
        first = real_send(gateway, probes[:half], **kwargs)
        victims.append(str(first["served_pod"].mode()[0]))
        session.target.delete_pod(victims[0])
        return pd.concat([first, real_send(gateway, probes[half:], **kwargs)], ignore_index=True)

    monkeypatch.setattr(stickiness, "send", send_with_a_delete_halfway)
    try:
        result = run_requirement(stickiness.REQUIREMENT,
                                 context_for(stickiness.REQUIREMENT, tmp_path, session, load_slo()))
    finally:
        # the module's later tests want every replica back
        deadline = time.monotonic() + 60
        while sum(p.ready for p in session.target.list_pods(stickiness.SERVICE_PODS)) < replicas:
            assert time.monotonic() < deadline, "the deleted pod's replacement never turned ready"
            time.sleep(0.2)
    assert result.verdict is Verdict.INCONCLUSIVE, result.reason
    assert victims and f"{victims[0]} left the ready pods" in result.reason



@contextmanager
def engines_stopped(session: TargetSession, pause_s: float, every_s: float) -> Iterator[None]:
    """A stack short of CPU, on cue: every catch-all engine (v1 and v2 of
    llm-chat) is stopped with SIGSTOP for `pause_s` of every `every_s`, from
    `every_s` into the block until it ends; SIGCONT always follows."""
    import os
    import signal
    import threading

    import httpx

    from harness.targets.local import LocalTarget

    assert isinstance(session.target, LocalTarget)
    pods = httpx.get(f"{session.target.admin}/pods", params={"selector": "app=llm-chat"}, timeout=10).json()["pods"]
    pids = [p["pid"] for p in pods if p["pid"] is not None and p["labels"].get("version") in ("v1", "v2")]
    assert pids, pods
    done = threading.Event()

    def stall() -> None:
        wait = every_s
        while not done.wait(wait):
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            try:
                done.wait(pause_s)
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
            wait = every_s - pause_s

    staller = threading.Thread(target=stall, daemon=True)
    staller.start()
    try:
        yield
    finally:
        done.set()
        staller.join(5)


@pytest.mark.slow
def test_a_stack_stalling_every_second_is_an_overload_not_a_verdict(session: TargetSession, tmp_path: Path) -> None:
    """The catch-all engines stopped 0.3 s of every second through the load:
    the stack lags in most of the window's seconds, which is an overload, not
    a hiccup, so no request is clear of it. The TTFT figure (the mesh delays
    every request 1.5 s, a failure on a stack that keeps up) is inconclusive,
    naming the overload: the double is never the reason for a verdict."""
    requirement = next(r for r in discover() if r.id == "latency.ttft-slo")
    with broken_mesh(session.target, requirement) as fault, \
            engines_stopped(session, pause_s=0.3, every_s=1.0):
        bad = run_requirement(requirement, context_for(requirement, tmp_path, session, load_slo(), fault=fault))
    ttft = next(c for c in bad.checks if c.name == "ttft p95")
    assert ttft.verdict is Verdict.INCONCLUSIVE, ttft.reason
    assert "an overload, not a hiccup" in ttft.reason, ttft.reason
    stalls = json.loads((tmp_path / "evidence" / requirement.id / "stalls.json").read_text())
    assert stalls["stalled_seconds"] > stalls["seconds"] / 2 and "evidence/latency.ttft-slo/stalls.json" in bad.evidence
