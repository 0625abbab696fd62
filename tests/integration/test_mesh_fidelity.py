"""Mesh fidelity: behaviours where a cluster's Istio / Envoy answers
differently from a naive proxy, each test naming the upstream source it
follows (docs/mesh-proxy.md, "Fidelity"). Run against the mesh fixture stack."""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.localstack.testing import StackHandle, eventually

pytestmark = pytest.mark.integration

CHAT = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


@pytest.fixture(scope="module")
def client(mesh_stack: StackHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mesh_stack.state.gateway, timeout=30) as c:
        yield c


def ask(client: httpx.Client, headers: dict[str, str], **body: object) -> httpx.Response:
    return client.post("/v1/chat/completions", json={**CHAT, **body}, headers=headers)


def served_by(resp: httpx.Response) -> dict[str, str]:
    raw = resp.headers.get("x-mesh-upstream", "")
    return dict(part.split("=", 1) for part in raw.split(";") if "=" in part)


def set_fault(stack: StackHandle, pod: str, **fault: object) -> None:
    url = next(p["url"] for p in stack.pods() if p["name"] == pod)
    if fault:
        httpx.post(f"{url}/admin/faults", json=fault).raise_for_status()
    else:
        httpx.delete(f"{url}/admin/faults").raise_for_status()


def no_ejections(stack: StackHandle) -> None:
    admin = stack.state.mesh_admin
    eventually(lambda: all(not c["ejected"] for c in httpx.get(f"{admin}/clusters").json()["clusters"]),
               20, "every ejection to end")


# -- 1. retries under ring hash --------------------------------------------------------------

def test_ring_hash_retry_stays_on_the_hashed_host(mesh_stack: StackHandle, client: httpx.Client) -> None:
    """Istio >= 1.23, pilot route.go `applyHTTPRouteDestination` -> retry.go
    `ConvertPolicy(policy, consistentHash)`: a single-destination route whose
    DestinationRule hashes gets no previous-hosts predicate, and Envoy's ring
    hash picks the same host on every retry. A pod answering 503 to its hashed
    users is not rescued; `retryIgnorePreviousHosts: true` rescues them."""
    no_ejections(mesh_stack)
    user = {"x-user-id": "user-17"}
    victim = served_by(ask(client, {**user, "x-test": "hashed-5xx"}))["pod"]
    set_fault(mesh_stack, victim, kind="error_rate", rate=1.0, status=503)
    try:
        rescued = ask(client, {**user, "x-test": "hashed-5xx-other-host"})
        assert rescued.status_code == 200
        assert served_by(rescued)["pod"] != victim and served_by(rescued)["attempts"] == "2"
        stuck = ask(client, {**user, "x-test": "hashed-5xx"})
        assert stuck.status_code == 503
        assert served_by(stuck)["pod"] == victim and served_by(stuck)["attempts"] == "2"
    finally:
        set_fault(mesh_stack, victim)
    no_ejections(mesh_stack)


# -- 2. http2MaxRequests is a hard limit ---------------------------------------------------

DR_URL = "/apis/networking.istio.io/v1/namespaces/llm/destinationrules"


def test_http2_max_requests_overflows_instead_of_queueing(mesh_stack: StackHandle, client: httpx.Client) -> None:
    """Envoy conn_pool_base.cc `attachStreamToClient`: at `max_requests` active
    requests the next one fails at once with 503 UO and x-envoy-overloaded,
    although connections (10) and pending room (5) are left; it does not wait."""
    admin = mesh_stack.state.mesh_admin
    limits = {"spec": {"trafficPolicy": {"connectionPool": {
        "tcp": {"maxConnections": 10}, "http": {"http2MaxRequests": 1, "http1MaxPendingRequests": 5}}}}}
    assert httpx.patch(f"{admin}{DR_URL}/narrow", json=limits).status_code == 200
    try:
        with cf.ThreadPoolExecutor(1) as pool:
            first = pool.submit(ask, client, {"x-test": "narrow"}, max_tokens=200)
            eventually(lambda: narrow_active(admin) == 1 or first.done(), 10, "the first request to be active")
            second = ask(client, {"x-test": "narrow"})
            assert first.result().status_code == 200
        assert second.status_code == 503 and second.headers["x-envoy-overloaded"] == "true"
        assert "reset reason: overflow" in second.text
    finally:
        httpx.delete(f"{admin}{DR_URL}/narrow")


def narrow_active(admin: str) -> int:
    clusters = httpx.get(f"{admin}/clusters").json()["clusters"]
    return int(next(c for c in clusters if c["name"].startswith("outbound|8000||narrow"))["active"])


# -- 6. fault injection keeps the rule's timeout and retries ------------------------------------

def requests_total(admin: str, **labels: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{admin}/metrics").text)
    return sum(s.value for f in families for s in f.samples
               if s.name == "istio_requests_total" and all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_faulted_rule_keeps_its_timeout_which_starts_after_the_delay(mesh_stack: StackHandle,
                                                                       client: httpx.Client) -> None:
    """pilot route.go `TranslateRoute` keeps `timeout` and `retries` on a rule with
    `fault` (the fault filter runs before Envoy's router, so an abort is never
    retried and the route timeout starts after a delay). The delayed request is
    flagged DI besides UT."""
    admin = mesh_stack.state.mesh_admin
    before = requests_total(admin, response_code="504", response_flags="UT,DI")
    started = time.monotonic()
    r = ask(client, {"x-test": "delayed-timeout"}, max_tokens=500)  # 500 steps of 5 ms
    elapsed = time.monotonic() - started
    assert (r.status_code, r.text) == (504, "upstream request timeout")
    assert elapsed >= 0.5  # 0.2 s delay, then the 0.3 s route timeout
    assert requests_total(admin, response_code="504", response_flags="UT,DI") == before + 1


# -- 3. the sidecar hop ---------------------------------------------------------------------

def test_a_dead_engine_behind_its_sidecar_is_a_503_response_not_a_connect_failure(
        mesh_stack: StackHandle, client: httpx.Client) -> None:
    """On a cluster the gateway connects to the pod's sidecar, which is alive when
    the engine container is not: the sidecar answers 503 ("... reset reason:
    connection failure", UF at the sidecar) and the gateway sees a response, so
    `connect-failure` (Istio's default retryOn) does not fire. The endpoint stays
    until the pod fails readiness or is deleted (here the region's endpoints are
    kept stale by stopping it)."""
    admin = mesh_stack.state.admin
    no_ejections(mesh_stack)
    httpx.post(f"{admin}/regions/us-east/stop", json={"mode": "kill"}).raise_for_status()
    try:
        eventually(lambda: all(p["phase"] != "Running" for p in mesh_stack.pods() if p["region"] == "us-east"),
                   10, "the us-east engines to stop")
        r = ask(client, {"x-test": "reset-default"})  # subset east-v1, Istio's default retry policy
        assert r.status_code == 503
        assert r.text == "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
        assert served_by(r)["region"] == "us-east" and served_by(r)["attempts"] == "1"
    finally:
        httpx.post(f"{admin}/regions/us-east/start").raise_for_status()
    eventually(lambda: all(p["ready"] for p in mesh_stack.pods() if p["region"] == "us-east"), 30, "us-east back")


# -- 4. mirroring ---------------------------------------------------------------------------

def metric(admin: str, name: str, **labels: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{admin}/metrics").text)
    return sum(s.value for f in families for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_mirrored_requests_are_reported_by_the_shadows_sidecar_only(mesh_stack: StackHandle,
                                                                     client: httpx.Client) -> None:
    """istio#23496, istio#11093: the gateway reports no istio_requests_total for a
    mirrored request; the shadow pod's sidecar reports it as reporter="destination"."""
    admin = mesh_stack.state.mesh_admin
    shadow = {"destination_service_name": "chat-shadow"}
    before = metric(admin, "istio_requests_total", reporter="destination", **shadow)
    for _ in range(5):
        assert ask(client, {}).status_code == 200  # the catch-all rule mirrors 100 %
    eventually(lambda: metric(admin, "istio_requests_total", reporter="destination", **shadow) == before + 5, 10,
               "the five mirrored requests reported by the shadow")
    assert metric(admin, "istio_requests_total", reporter="source", **shadow) == 0


def test_the_mirror_goes_through_the_shadows_circuit_breakers(mesh_stack: StackHandle, client: httpx.Client) -> None:
    """Envoy sends the shadow through its async client, into the shadow cluster's
    connection pool: at http2MaxRequests the copy is dropped as an overflow."""
    admin = mesh_stack.state.mesh_admin
    shadow_pod = next(p["name"] for p in mesh_stack.pods() if p["name"].startswith("shadow-"))
    dr = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
          "metadata": {"name": "chat-shadow", "namespace": "llm"},
          "spec": {"host": "chat-shadow", "trafficPolicy": {"connectionPool": {"http": {"http2MaxRequests": 1}}}}}
    assert httpx.post(f"{admin}{DR_URL}", json=dr).status_code in (200, 201)
    cluster = {"cluster_name": "outbound|8000||chat-shadow.llm.svc.cluster.local"}
    set_fault(mesh_stack, shadow_pod, kind="hang")
    try:
        before = metric(admin, "envoy_cluster_upstream_rq_pending_overflow_total", **cluster)
        for _ in range(3):
            assert ask(client, {}).status_code == 200  # the user's answer never waits for the shadow
        eventually(lambda: metric(admin, "envoy_cluster_upstream_rq_pending_overflow_total", **cluster)
                   == before + 2, 10, "two mirrors dropped by the shadow's circuit breaker")
    finally:
        set_fault(mesh_stack, shadow_pod)
        httpx.delete(f"{admin}{DR_URL}/chat-shadow")
