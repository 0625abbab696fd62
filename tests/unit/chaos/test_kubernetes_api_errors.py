"""The Kubernetes driver says "unreachable" only when the API server could
not be reached; a refusal names its status; any other exception is a defect
and is not disguised."""

from __future__ import annotations

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from harness.targets.base import TargetError
from harness.targets.kubernetes import KubernetesTarget


def raising(exc: BaseException):  # type: ignore[no-untyped-def]
    def call() -> None:
        raise exc
    return call


@pytest.fixture
def target() -> KubernetesTarget:
    return KubernetesTarget(api_client=None, namespace="llm")


def test_connection_errors_read_as_unreachable(target: KubernetesTarget) -> None:
    refused = urllib3.exceptions.MaxRetryError(None, "/api", reason=ConnectionRefusedError("refused"))  # type: ignore[arg-type]
    for exc in (refused, ConnectionRefusedError("refused"), TimeoutError("timed out")):
        with pytest.raises(TargetError, match="list pods: the API server is unreachable"):
            target._api("list pods", raising(exc))


def test_a_refusal_names_its_status(target: KubernetesTarget) -> None:
    with pytest.raises(TargetError, match="delete pod llm/a: 403 Forbidden") as info:
        target._api("delete pod llm/a", raising(ApiException(status=403, reason="Forbidden")))
    assert "unreachable" not in str(info.value)
    assert target._api("read", raising(ApiException(status=404, reason="Not Found")), missing_ok=True) is None


def test_any_other_exception_is_not_disguised(target: KubernetesTarget) -> None:
    with pytest.raises(KeyError):
        target._api("list pods", raising(KeyError("metadata")))
