"""Envoy's local replies, including the `redirect` and `directResponse`
route actions as pilot translates them (route.go `ApplyRedirect`,
`ApplyDirectResponse`) and Istio validates them (virtualservice.go).

Code under test: harness/localstack/mesh/replies.py, the HTTPRoute model.
"""

from __future__ import annotations

import pydantic
import pytest

from harness.istio.virtual_service import HTTPDirectResponse, HTTPRedirect, HTTPRoute
from harness.localstack.mesh.proxy import attempt_limit, retries_exhausted
from harness.localstack.mesh.replies import direct_reply, join_flags, redirect_reply, upstream_failure
from harness.localstack.mesh.retry import Failure, RetryPolicy


def location(redirect: dict, host: str = "gw.example:8080", path: str = "/v1/models?x=1", port: int = 8080) -> str:
    reply = redirect_reply(HTTPRedirect.model_validate(redirect), host, path, port)
    return dict(reply.headers)["location"]


def test_redirect_is_301_with_location_and_no_body():
    reply = redirect_reply(HTTPRedirect(uri="/v2/models"), "gw:8080", "/v1/models", 8080)
    assert (reply.status, reply.body, reply.flags) == (301, b"", "")
    assert dict(reply.headers) == {"location": "http://gw:8080/v2/models"}


@pytest.mark.parametrize("code", [302, 303, 307, 308])
def test_redirect_code_is_honoured(code):
    assert redirect_reply(HTTPRedirect(uri="/a", redirectCode=code), "gw", "/", 80).status == code


def test_redirect_uri_keeps_the_query_unless_it_carries_one():
    assert location({"uri": "/v2"}) == "http://gw.example:8080/v2?x=1"
    assert location({"uri": "/v2?y=2"}) == "http://gw.example:8080/v2?y=2"


def test_redirect_authority_replaces_host_and_port():
    assert location({"authority": "api.example"}) == "http://api.example/v1/models?x=1"


def test_redirect_scheme_drops_the_request_port_and_default_ports():
    assert location({"scheme": "https"}) == "https://gw.example/v1/models?x=1"
    assert location({"scheme": "https", "port": 443}) == "https://gw.example/v1/models?x=1"
    assert location({"scheme": "http", "port": 80}) == "http://gw.example/v1/models?x=1"


def test_redirect_port_and_derive_port():
    assert location({"port": 9000}) == "http://gw.example:9000/v1/models?x=1"
    assert location({"authority": "a", "derivePort": "FROM_REQUEST_PORT"}, port=8443) == \
        "http://a:8443/v1/models?x=1"
    assert location({"authority": "a", "derivePort": "FROM_PROTOCOL_DEFAULT"}) == "http://a/v1/models?x=1"


def test_direct_response_status_and_body():
    reply = direct_reply(HTTPDirectResponse.model_validate({"status": 503, "body": {"string": "maintenance"}}))
    assert (reply.status, reply.body, dict(reply.headers)) == (503, b"maintenance", {"content-type": "text/plain"})


def test_direct_response_bytes_body_is_base64():
    reply = direct_reply(HTTPDirectResponse.model_validate({"status": 200, "body": {"bytes": "aGk="}}))
    assert reply.body == b"hi"


def test_direct_response_without_body():
    reply = direct_reply(HTTPDirectResponse(status=204))
    assert (reply.status, reply.body, reply.headers) == (204, b"", ())


@pytest.mark.parametrize("rule, problem", [
    ({"redirect": {"uri": "/a"}, "route": [{"destination": {"host": "chat"}}]}, "cannot also have 'route'"),
    ({"redirect": {"uri": "/a"}, "fault": {"abort": {"httpStatus": 503}}}, "cannot also have 'fault'"),
    ({"directResponse": {"status": 200}, "redirect": {"uri": "/a"}}, "cannot also have"),
    ({"redirect": {}}, "needs uri, authority, scheme or port"),
    ({"redirect": {"uri": "/a", "redirectCode": 304}}, "redirectCode 304"),
    ({"redirect": {"scheme": "ftp"}}, "'http' or 'https'"),
    ({"directResponse": {"status": 99}}, "greater than or equal to 200"),
])
def test_invalid_local_actions_are_refused(rule, problem):
    with pytest.raises(pydantic.ValidationError, match=problem):
        HTTPRoute.model_validate(rule)


def test_upstream_failure_replies():
    assert upstream_failure(Failure.CONNECT, retried=False).flags == "UF"
    assert upstream_failure(Failure.RESET, retried=False).flags == "UC"
    retried = upstream_failure(Failure.CONNECT, retried=True)
    assert retried.flags == "UF,URX" and b"retried and the latest reset reason: connection failure" in retried.body
    assert upstream_failure(Failure.PER_TRY_TIMEOUT, retried=True).status == 504


def test_attempt_limit_is_the_tighter_timeout():
    assert attempt_limit(None, None) == (float("inf"), False)
    assert attempt_limit(1.0, None) == (1.0, False)
    assert attempt_limit(1.0, 0.5) == (0.5, True)  # the route timeout ends the request
    assert attempt_limit(0.5, 1.0) == (0.5, False)  # the per-try timeout ends this try


def test_flags_join_in_envoys_order():
    """Envoy prints every response flag set, comma-separated, in its fixed order."""
    assert join_flags("UT", "DI") == "UT,DI"
    assert join_flags("FI", "DI") == "DI,FI"
    assert join_flags("UC", "URX") == "UC,URX"
    assert join_flags("", "") == ""


def test_urx_only_when_a_retriable_answer_used_up_the_retries():
    """Envoy's router sets UpstreamRetryLimitExceeded (URX) when a retriable
    answer comes on the last allowed attempt; not without a retry policy."""
    two = RetryPolicy(attempts=2)
    assert retries_exhausted(two, retriable=True, attempt=2) == "URX"
    assert retries_exhausted(two, retriable=True, attempt=1) == ""
    assert retries_exhausted(two, retriable=False, attempt=2) == ""
    assert retries_exhausted(RetryPolicy(attempts=0), retriable=True, attempt=0) == ""
