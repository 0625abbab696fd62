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
