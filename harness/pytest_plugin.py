"""pytest plugin: options and fixtures for suites that run against a target.

Imports stay lazy (locust's gevent patching, the kubernetes client) so that
merely having the plugin installed costs nothing.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llm-mesh-harness", "LLM mesh harness")
    group.addoption(
        "--target",
        action="store",
        default="local",
        choices=("local", "kube"),
        help="where the product suites run: the embedded local stack (default) or a Kubernetes cluster",
    )
    group.addoption(
        "--stack-name",
        action="store",
        default=None,
        help="name of an already running local stack to use instead of starting one per session",
    )


@pytest.fixture(scope="session")
def local_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A running local stack for the session: the one named by --stack-name, or a
    fresh reference stack under a private state dir, stopped at the end."""
    from harness.localstack.stack import StackOptions
    from harness.localstack.state import read_state
    from harness.localstack.testing import StackHandle, running_stack

    if request.config.getoption("--target") != "local":
        pytest.skip("needs --target local")
    name = request.config.getoption("--stack-name")
    if name:
        state = read_state(name)
        if state is None:
            raise pytest.UsageError(f"--stack-name {name}: no such stack is running; start it with "
                                    f"'harness stack up --detach --name {name}'")
        yield StackHandle(state, StackOptions(name=name))
        return
    with running_stack(state_dir=tmp_path_factory.mktemp("harness-state")) as handle:
        yield handle
