"""The fake target registered as `harness_target: fake`, and a configuration naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_target import FakeTarget, chat_target

from harness.targets.base import Target
from harness.targets.factory import register_target, unregister_target


@pytest.fixture
def fake() -> Iterator[FakeTarget]:
    target = chat_target()

    def build(cfg: dict[str, Any]) -> Target:
        return target

    register_target("fake", build)
    try:
        yield target
    finally:
        unregister_target("fake")


@pytest.fixture
def config(fake: FakeTarget, tmp_path: Path) -> dict[str, Any]:
    """Fast, named time limits: a unit test never waits seconds for a fault that will not show."""
    return {"harness_target": "fake", "harness_journal": str(tmp_path / "journal.jsonl"),
            "harness_confirm_timeout_s": 0.3, "harness_ready_timeout_s": 0.5,
            "harness_region_ready_timeout_s": 0.5, "harness_poll_interval_s": 0.01}
