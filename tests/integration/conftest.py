"""Shared pieces of the integration tests: a stack on the mesh fixture
topology (made per module), and a chaos configuration naming it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.localstack.testing import StackHandle, running_stack

FIXTURES = Path(__file__).parent / "fixtures"


@contextlib.contextmanager
def mesh_fixture_stack(tmp_path_factory: pytest.TempPathFactory, prometheus: bool) -> Iterator[StackHandle]:
    """The mesh conformance topology and rules; HARNESS_STATE_DIR points at it
    so chaos actions find the stack by name."""
    state = tmp_path_factory.mktemp("state")
    with running_stack(topology=FIXTURES / "mesh" / "topology.yaml", istio=[FIXTURES / "mesh" / "istio"],
                       prometheus=prometheus, state_dir=state) as handle:
        os.environ["HARNESS_STATE_DIR"] = str(state)
        yield handle


def chaos_config(stack: StackHandle, tmp_path: Path) -> dict[str, Any]:
    return {"harness_target": "local", "harness_stack": stack.state.name,
            "harness_journal": str(tmp_path / "journal.jsonl")}
