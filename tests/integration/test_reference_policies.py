"""The shipped reference stack (reference-stack/local + reference-stack/istio)
does what docs/istio-policies.md says each policy is for."""

from __future__ import annotations

import concurrent.futures as cf
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.localstack.testing import StackHandle, eventually, running_stack

pytestmark = pytest.mark.integration

CHAT = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 2}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with running_stack(prometheus=False, state_dir=tmp_path_factory.mktemp("state")) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(stack: StackHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.state.gateway, timeout=60) as c:
        yield c


def served(r: httpx.Response) -> dict[str, str]:
    raw = r.headers.get("x-mesh-upstream", "")
    return dict(p.split("=", 1) for p in raw.split(";") if "=" in p)


def chat(client: httpx.Client, headers: dict[str, str] | None = None, **body) -> httpx.Response:
    return client.post("/v1/chat/completions", json={**CHAT, **body}, headers=headers or {})


def test_no_routing_header_lands_on_the_canary_split(client: httpx.Client) -> None:
    with cf.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda _: chat(client), range(200)))
    assert all(r.status_code == 200 for r in rs)
    assert {served(r)["service"] for r in rs} == {"llm-chat"}
    versions = Counter(served(r)["version"] for r in rs)
    assert set(versions) == {"v1", "v2"} and 15 <= versions["v2"] <= 70  # Binomial(200, .2): 40 +- 25


def test_canary_is_visible_as_destination_version(stack: StackHandle, client: httpx.Client) -> None:
    for _ in range(30):
        chat(client)
    text = httpx.get(f"{stack.state.mesh_admin}/metrics").text
    versions = {s.labels["destination_version"] for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "istio_requests_total" and s.labels["destination_service_name"] == "llm-chat"}
    assert {"v1", "v2"} <= versions


def test_catch_all_traffic_is_mirrored_to_the_shadow(stack: StackHandle, client: httpx.Client) -> None:
    shadow = stack.pods(selector="app=llm-chat-shadow")[0]["url"]

    def shadow_requests() -> float:
        text = httpx.get(f"{shadow}/metrics").text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "vllm:request_success_total")

    before = shadow_requests()
    for _ in range(10):
        assert served(chat(client))["service"] == "llm-chat"
    eventually(lambda: shadow_requests() >= before + 10, 10, "the shadow to see the copies")


@pytest.mark.parametrize("headers, service, pod_prefix", [
    ({"x-model-type": "large"}, "llm-chat-large", "chat-large-us-east"),
    ({"x-prompt-complexity": "high"}, "llm-chat-large", "chat-large-us-east"),
    ({"x-user-tier": "premium"}, "llm-chat", "chat-v1-premium-us-east"),
    ({"x-region": "eu-west"}, "llm-chat", "chat-v1-eu-west"),
    ({"x-region": "us-west"}, "llm-chat", "chat-v"),
    ({"x-request-type": "batch"}, "llm-chat", "chat-v"),
])
def test_content_routing_headers(client: httpx.Client, headers: dict, service: str, pod_prefix: str) -> None:
    model = "llama-3-70b" if service == "llm-chat-large" else "llama-3-8b"
    r = chat(client, headers, model=model)
    assert r.status_code == 200, r.text
    assert served(r)["service"] == service and served(r)["pod"].startswith(pod_prefix)
    if "x-region" in headers:
        assert served(r)["region"] == headers["x-region"]
    if headers.get("x-request-type") == "batch":
        assert served(r)["subset"] == "standard"


def test_embeddings_route_by_path(client: httpx.Client) -> None:
    r = client.post("/v1/embeddings", json={"model": "bge-small", "input": "route me"})
    assert r.status_code == 200 and served(r)["service"] == "llm-embed"
    assert len(r.json()["data"][0]["embedding"]) == 384


def test_kv_cache_affinity_by_user_id(client: httpx.Client) -> None:
    # The ring hash applies inside the cluster the weighted split picked: Envoy
    # draws the 80/20 canary per request, so a user can meet v1 and v2, but
    # within each version always the same pod.
    for user in ("alice", "bob", "carol"):
        seen: dict[str, set[str]] = {}
        for _ in range(12):
            r = served(chat(client, {"x-user-id": user}))
            seen.setdefault(r["version"], set()).add(r["pod"])
        assert all(len(pods) == 1 for pods in seen.values()), (user, seen)


def test_large_model_falls_back_to_the_8b_pool_when_the_70b_pod_fails(stack: StackHandle,
                                                                     client: httpx.Client) -> None:
    large = next(p for p in stack.pods() if p["deployment"] == "chat-large-us-east")
    large_headers = {"x-model-type": "large"}
    assert served(chat(client, large_headers, model="llama-3-70b"))["pod"] == large["name"]
    httpx.post(f"{large['url']}/admin/faults", json={"kind": "error_rate", "rate": 1.0, "status": 503})
    try:
        # consecutiveGatewayErrors: 1 ejects the 70B pod on its first 503 and the
        # rule's one retry (retryOn gateway-error) goes, by failover priority, to
        # the pool that answers for it: not even the first request fails.
        for _ in range(3):
            r = chat(client, large_headers, model="llama-3-70b")
            assert r.status_code == 200
            assert served(r)["pod"].startswith("chat-large-fallback-us-east")
            assert r.json()["model"] == "llama-3-8b"  # the body tells the client which model answered
        assert served(r)["attempts"] == "1"  # ejected: later requests go straight to the fallback
    finally:
        httpx.delete(f"{large['url']}/admin/faults")


@pytest.mark.parametrize("region", ["us-east", "us-west"])
def test_region_pinned_requests_retry_a_failing_pod_in_their_region(stack: StackHandle, client: httpx.Client,
                                                                    region: str) -> None:
    # A crashed pod's sidecar answers 503 (UF), as a pod answering 503 does:
    # the region rules retry gateway-error (without it every answer says attempts=1).
    # One user: every request hashes to the same pod (the ring hash on x-user-id),
    # so the faulted pod is the one they all reach first.
    user = {"x-region": region, "x-user-id": f"retry-probe-{region}"}
    first = served(chat(client, user))["pod"]
    failing = next(p for p in stack.pods() if p["name"] == first)
    httpx.post(f"{failing['url']}/admin/faults", json={"kind": "error_rate", "rate": 1.0, "status": 503})
    try:
        answers = [chat(client, user) for _ in range(10)]
    finally:
        httpx.delete(f"{failing['url']}/admin/faults")
    retried = [r for r in answers if served(r)["attempts"] != "1"]
    assert retried, [(r.status_code, r.headers.get("x-mesh-upstream")) for r in answers]
    assert {served(r)["region"] for r in answers} == {region}
