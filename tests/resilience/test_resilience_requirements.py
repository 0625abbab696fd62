"""The resilience requirements of the catalogue (each a fault under load),
one test each, judged by the same runner as `harness certify`:

    pytest tests/resilience --target local
"""

from collections.abc import Callable

import pytest

from harness.certify.requirement import Requirement
from harness.pytest_plugin import requirement_params

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("requirement", requirement_params("resilience"))
def test_requirement(requirement: Requirement, certify: Callable[[Requirement], object]) -> None:
    certify(requirement)
