"""The conformance requirements of the catalogue, one test each, judged by
the same runner as `harness certify`:

    pytest tests/conformance --target local              # starts the embedded stack
    pytest tests/conformance --target local --stack-name dev --requirement routing.canary-split
    pytest tests/conformance --target kube --gateway http://GW --prometheus http://PROM
"""

from collections.abc import Callable

import pytest

from harness.certify.requirement import Requirement
from harness.pytest_plugin import requirement_params


@pytest.mark.parametrize("requirement", requirement_params("conformance"))
def test_requirement(requirement: Requirement, certify: Callable[[Requirement], object]) -> None:
    certify(requirement)
