"""Shared fixtures of the integration tests: a stack on the mesh fixture
topology (one per module), and a chaos configuration naming it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.localstack.testing import StackHandle, running_stack

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def mesh_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """The mesh conformance topology and rules, one stack per module (with
    Prometheus when the module sets WITH_PROMETHEUS); HARNESS_STATE_DIR points
    at it so chaos actions find the stack by name."""
    state = tmp_path_factory.mktemp("state")
    with running_stack(topology=FIXTURES / "mesh" / "topology.yaml", istio=[FIXTURES / "mesh" / "istio"],
                       prometheus=getattr(request.module, "WITH_PROMETHEUS", False), state_dir=state) as handle:
        os.environ["HARNESS_STATE_DIR"] = str(state)
        yield handle


@pytest.fixture
def chaos_config(mesh_stack: StackHandle, tmp_path: Path) -> dict[str, Any]:
    """A chaos configuration naming the module's stack, with a journal of its own."""
    return {"harness_target": "local", "harness_stack": mesh_stack.state.name,
            "harness_journal": str(tmp_path / "journal.jsonl")}
