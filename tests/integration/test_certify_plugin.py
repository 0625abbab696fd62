"""The pytest plugin (registered by entry point), run with pytester in a
subprocess: one test per requirement with its markers, selection by
--requirement, unknown ids refused as a usage error."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUITE = """
import pytest
from harness.pytest_plugin import requirement_params

@pytest.mark.parametrize("requirement", requirement_params("conformance"))
def test_requirement(requirement):
    assert requirement.kind == "conformance"
"""


def test_one_test_per_requirement_with_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    collected = pytester.runpytest_subprocess("--collect-only", "-q", "-m", "conformance and smoke")
    ids = [line for line in collected.outlines if "::test_requirement[" in line]
    assert any("routing.canary-split" in i for i in ids)
    assert not any("outlier.ejection-and-return" in i for i in ids)  # full only: not in smoke


def test_requirement_option_selects_and_refuses_unknown_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("-q", "--requirement", "routing.canary-split")
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 1 and outcomes["deselected"] > 5
    bad = pytester.runpytest_subprocess("-q", "--requirement", "routing.nope")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown requirement id 'routing.nope'" in "\n".join(bad.errlines + bad.outlines)
