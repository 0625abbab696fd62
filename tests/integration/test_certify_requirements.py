"""Every conformance requirement passes on the reference stack and fails on
the broken mesh configuration it names, on one stack broken and restored
through the mesh's admin API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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

# resilience requirements run a fault under load for tens of seconds each, and
# full-only ones wait out mesh timers: slow
CATALOGUE = [pytest.param(r, id=r.id, marks=[pytest.mark.slow] if r.kind == "resilience" or "smoke" not in r.profiles
                          else []) for r in discover()]


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
