"""Mesh conformance: one test per Istio / Envoy behaviour the local proxy
promises, against a running stack (engines, orchestrator, proxy) and the
rules in fixtures/mesh/istio. Statistical checks use bounds that hold with
overwhelming probability; everything else is deterministic."""

from __future__ import annotations

import concurrent.futures as cf
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.localstack.testing import StackHandle, eventually, running_stack

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures" / "mesh"
CHAT = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
VS_URL = "/apis/networking.istio.io/v1/namespaces/llm/virtualservices"
DR_URL = "/apis/networking.istio.io/v1/namespaces/llm/destinationrules"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    istio = tmp_path_factory.mktemp("istio")
    (istio / "chat.yaml").write_text((FIXTURES / "istio" / "chat.yaml").read_text())
    with running_stack(topology=FIXTURES / "topology.yaml", istio=[istio], prometheus=False,
                       state_dir=tmp_path_factory.mktemp("state")) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(stack: StackHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.state.gateway, timeout=30,
                      limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)) as c:
        yield c


def upstream(resp: httpx.Response) -> dict[str, str]:
    raw = resp.headers.get("x-mesh-upstream", "")
    return dict(part.split("=", 1) for part in raw.split(";") if "=" in part)


def ask(client: httpx.Client, headers: dict[str, str] | None = None, **body) -> httpx.Response:
    return client.post("/v1/chat/completions", json={**CHAT, **body}, headers=headers or {})


def many(client: httpx.Client, n: int, headers: dict[str, str] | None = None, workers: int = 16) -> list[httpx.Response]:
    with cf.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda _: ask(client, headers), range(n)))


def mesh_admin(stack: StackHandle) -> str:
    assert stack.state.mesh_admin
    return stack.state.mesh_admin


def cluster_info(stack: StackHandle, name_part: str) -> dict:
    clusters = httpx.get(f"{mesh_admin(stack)}/clusters").json()["clusters"]
    return next(c for c in clusters if c["name"].startswith(name_part))


def wait_no_ejections(stack: StackHandle) -> None:
    eventually(lambda: all(not c["ejected"] for c in httpx.get(f"{mesh_admin(stack)}/clusters").json()["clusters"]),
               20, "every ejection to end")


def set_fault(stack: StackHandle, pod: str, **fault) -> None:
    url = next(p["url"] for p in stack.pods() if p["name"] == pod)
    if fault:
        httpx.post(f"{url}/admin/faults", json=fault).raise_for_status()
    else:
        httpx.delete(f"{url}/admin/faults").raise_for_status()


# -- routing -------------------------------------------------------------------

def test_gateway_points_at_the_mesh(stack: StackHandle, client: httpx.Client) -> None:
    r = ask(client)
    assert r.status_code == 200
    assert upstream(r)["service"] == "chat" and upstream(r)["pod"].startswith("chat-")


def test_catch_all_canary_splits_80_20(client: httpx.Client) -> None:
    n = 1000
    versions = Counter(upstream(r)["version"] for r in many(client, n))
    assert set(versions) == {"v1", "v2"}
    # Binomial(1000, 0.2): sd 12.6; +-5 sd holds with probability 1 - 6e-7.
    assert abs(versions["v2"] - 200) <= 5 * math.sqrt(n * 0.2 * 0.8), versions


def test_header_exact_match_pins_a_subset(client: httpx.Client) -> None:
    served = {upstream(r)["version"] for r in many(client, 30, {"x-version": "v1"})}
    assert served == {"v1"}


def test_regex_is_a_full_match(client: httpx.Client) -> None:
    assert upstream(ask(client, {"x-region": "us-west"}))["region"] == "us-west"
    # "us-west-2" is not a full match of us-(east|west): it falls through to the canary
    r = ask(client, {"x-region": "us-west-2"})
    assert upstream(r)["subset"] in ("v1", "v2")


def test_response_header_operations(client: httpx.Client) -> None:
    assert ask(client, {"x-user-id": "u1"}).headers["x-affinity"] == "ring-hash"


def test_consistent_hash_keeps_each_user_on_one_pod(client: httpx.Client) -> None:
    pods_by_user = {}
    for user in (f"user-{i}" for i in range(30)):
        seen = {upstream(ask(client, {"x-user-id": user}))["pod"] for _ in range(3)}
        assert len(seen) == 1, (user, seen)
        pods_by_user[user] = seen.pop()
    assert len(set(pods_by_user.values())) == 2, "30 users should land on both us-east v1 pods"


def test_affinity_survives_unrelated_pods_coming_and_going(stack: StackHandle, client: httpx.Client) -> None:
    users = [f"steady-{i}" for i in range(20)]

    def mapping() -> dict[str, str]:
        return {u: upstream(ask(client, {"x-user-id": u}))["pod"] for u in users}

    before = mapping()
    admin = stack.state.admin
    httpx.post(f"{admin}/deployments/chat-v2-us-east/scale", json={"replicas": 2}).raise_for_status()
    try:
        eventually(lambda: len(stack.pods(selector="app=chat,version=v2", ready=True)) == 2, 20, "a second v2 pod")
        assert mapping() == before
    finally:
        httpx.post(f"{admin}/deployments/chat-v2-us-east/scale", json={"replicas": 1}).raise_for_status()
    eventually(lambda: len(stack.pods(selector="app=chat,version=v2")) == 1, 20, "back to one v2 pod")
    assert mapping() == before


def test_no_route_is_404_nr(stack: StackHandle, client: httpx.Client) -> None:
    vs = httpx.get(f"{mesh_admin(stack)}{VS_URL}/chat").json()
    only_abort = {**vs, "spec": {**vs["spec"], "http": [vs["spec"]["http"][0]]}}
    assert httpx.put(f"{mesh_admin(stack)}{VS_URL}/chat", json=only_abort).status_code == 200
    try:
        r = ask(client)
        assert r.status_code == 404 and r.text == ""
    finally:
        httpx.delete(f"{mesh_admin(stack)}{VS_URL}/chat")
    assert ask(client).status_code == 200


def test_redirect_answers_as_envoys_redirect_action(stack: StackHandle, client: httpx.Client) -> None:
    """pilot route.go ApplyRedirect -> Envoy RedirectAction: the code and a
    Location with the path swapped; the query is kept; nothing goes upstream."""
    r = client.post("/v1/chat/completions?stream=0", json=CHAT, headers={"x-test": "redirect"})
    assert r.status_code == 308 and r.content == b""
    assert r.headers["location"] == f"{stack.state.gateway}/v1/models?stream=0"
    assert "x-mesh-upstream" not in r.headers


def test_direct_response_answers_its_status_and_body(client: httpx.Client) -> None:
    """pilot route.go ApplyDirectResponse -> Envoy DirectResponseAction."""
    r = ask(client, {"x-test": "direct"})
    assert (r.status_code, r.text) == (503, "down for maintenance")
    assert "x-mesh-upstream" not in r.headers


def test_a_delegating_rule_is_skipped(stack: StackHandle, client: httpx.Client) -> None:
    """Delegate VirtualServices are not merged locally; the rule is dropped, as
    pilot drops it when its delegate is missing (virtualservice_controller.go)."""
    vs = httpx.get(f"{mesh_admin(stack)}{VS_URL}/chat").json()
    delegating = {**vs, "spec": {**vs["spec"], "http": [{"delegate": {"name": "elsewhere"}}, *vs["spec"]["http"]]}}
    assert httpx.put(f"{mesh_admin(stack)}{VS_URL}/chat", json=delegating).status_code == 200
    try:
        assert ask(client).status_code == 200
    finally:
        httpx.delete(f"{mesh_admin(stack)}{VS_URL}/chat")


# -- streaming, mirroring, telemetry --------------------------------------------

def test_streaming_passes_chunks_through_as_they_come(client: httpx.Client) -> None:
    body = {**CHAT, "max_tokens": 40, "stream": True}
    arrivals = []
    t0 = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions", json=body, headers={"x-version": "v1"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.perf_counter() - t0)
    assert len(arrivals) >= 42  # role chunk, 40 tokens, [DONE]
    # 40 decode steps of 5 ms: the first token must arrive well before the last
    # (a buffering proxy would deliver them all at once).
    assert arrivals[-1] - arrivals[1] > 0.1


def test_client_disconnect_cancels_the_upstream_request(stack: StackHandle, client: httpx.Client) -> None:
    body = {**CHAT, "max_tokens": 4000, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body, headers={"x-version": "v1"}) as r:
        pod = upstream(r)["pod"]
        next(r.iter_lines())
    url = next(p["url"] for p in stack.pods() if p["name"] == pod)
    eventually(lambda: httpx.get(f"{url}/load").json()["server_load"] == 0, 10, "the engine to drop the request")


def _engine_requests(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "vllm:request_success_total")


def test_mirror_copies_every_catch_all_request_to_the_shadow(stack: StackHandle, client: httpx.Client) -> None:
    shadow = stack.pods(selector="app=chat-shadow")[0]["url"]
    before = _engine_requests(shadow)
    responses = many(client, 40)
    assert all(r.status_code == 200 and upstream(r)["service"] == "chat" for r in responses)
    eventually(lambda: _engine_requests(shadow) - before >= 40, 10, "40 mirrored requests at the shadow")


def test_telemetry_labels_destination_version_and_cluster(stack: StackHandle, client: httpx.Client) -> None:
    many(client, 50)
    text = httpx.get(f"{mesh_admin(stack)}/metrics").text
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "istio_requests_total" and s.labels["destination_service_name"] == "chat"]
    versions = {s.labels["destination_version"] for s in samples if s.labels["response_code"] == "200"}
    assert {"v1", "v2"} <= versions
    assert {s.labels["destination_cluster"] for s in samples} >= {"us-east"}
    assert {s.labels["reporter"] for s in samples} == {"source", "destination"}
    assert any(s.labels["destination_service"] == "chat-shadow.llm.svc.cluster.local" for f in
               text_string_to_metric_families(text) for s in f.samples if s.name == "istio_requests_total")


# -- faults, timeouts, retries ---------------------------------------------------

def test_fault_abort_answers_fault_filter_abort(client: httpx.Client) -> None:
    r = ask(client, {"x-test": "abort"})
    assert (r.status_code, r.text) == (503, "fault filter abort")


def test_fault_abort_percentage(client: httpx.Client) -> None:
    codes = Counter(r.status_code for r in many(client, 400, {"x-test": "half-abort"}))
    assert set(codes) == {200, 429}
    assert abs(codes[429] - 200) <= 5 * 10  # Binomial(400, .5): sd 10


def test_route_timeout_is_504_upstream_request_timeout(client: httpx.Client) -> None:
    r = ask(client, {"x-test": "timeout"}, max_tokens=500)  # 500 steps of 5 ms, timeout 0.3 s
    assert (r.status_code, r.text) == (504, "upstream request timeout")


def test_patch_through_admin_api_takes_effect_and_reverts(stack: StackHandle, client: httpx.Client) -> None:
    patch = {"spec": {"http": [{"name": "all-abort", "fault": {"abort": {"httpStatus": 418,
                                                                           "percentage": {"value": 100.0}}},
                                "route": [{"destination": {"host": "chat", "subset": "v1"}}]}]}}
    r = httpx.patch(f"{mesh_admin(stack)}{VS_URL}/chat", json=patch)
    assert r.status_code == 200
    try:
        assert ask(client).status_code == 418
    finally:
        httpx.delete(f"{mesh_admin(stack)}{VS_URL}/chat")
    assert ask(client).status_code == 200
    bad = httpx.patch(f"{mesh_admin(stack)}{VS_URL}/chat", json={"spec": {"http": [{"route": [
        {"destination": {"host": "chat"}, "match": []}]}]}})
    assert bad.status_code == 422 and "match" in bad.json()["message"]


def test_killed_pod_is_retried_only_when_retry_on_allows(stack: StackHandle, client: httpx.Client) -> None:
    admin = stack.state.admin
    victim = "chat-v1-eu-west-0"
    # Stop the region without telling the mesh (endpoints go stale), then pin
    # traffic to it through a subset: connect failures follow.
    patch = {"spec": {"subsets": [{"name": "v1", "labels": {"version": "v1", "region": "eu-west"}},
                                  {"name": "v2", "labels": {"version": "v2"}},
                                  {"name": "us-west", "labels": {"region": "us-west"}},
                                  {"name": "hashed", "labels": {"version": "v1", "region": "us-east"}},
                                  {"name": "fallback", "labels": {"version": "v1", "region": "us-west"}}],
                      "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 1000}}}}
    assert httpx.patch(f"{mesh_admin(stack)}{DR_URL}/chat", json=patch).status_code == 200
    httpx.post(f"{admin}/regions/eu-west/stop", json={"mode": "kill"}).raise_for_status()
    try:
        eventually(lambda: any(p["name"] == victim and p["phase"] != "Running" for p in stack.pods()), 10,
                   "the eu-west pod to stop")
        r = ask(client, {"x-version": "v1-no-retry"})
        assert r.status_code == 503 and "connection failure" in r.text and "retried" not in r.text
        r = ask(client, {"x-version": "v1"})  # retries on connect-failure, but the only host is down
        assert r.status_code == 503 and "retried and the latest reset reason: connection failure" in r.text
    finally:
        httpx.post(f"{admin}/regions/eu-west/start").raise_for_status()
        httpx.delete(f"{mesh_admin(stack)}{DR_URL}/chat")
    eventually(lambda: any(p["name"] == victim and p["ready"] for p in stack.pods()), 20, "eu-west back")


def _reset_mid_request(stack: StackHandle, client: httpx.Client, test: str) -> httpx.Response:
    """Send a request that sticks on a hanging pod, then kill that pod's
    container: the proxy sees the connection reset before any header."""
    wait_no_ejections(stack)
    victim = "chat-v1-us-east-0"
    set_fault(stack, victim, kind="hang")
    result: list[httpx.Response] = []
    try:
        for _ in range(10):  # round robin: some requests land on the other pod and finish
            t = threading.Thread(target=lambda: result.append(ask(client, {"x-test": test})))
            t.start()
            stuck = eventually(lambda t=t: t.is_alive() and cluster_info(stack, "outbound|8000|east-v1|")
                               ["inflight"].get(victim) or not t.is_alive(), 10, "the request to land")
            if t.is_alive() and stuck:
                break
            t.join()
        else:
            raise AssertionError("no request reached the hanging pod")
        httpx.post(f"{stack.state.admin}/pods/{victim}/kill").raise_for_status()
        t.join(timeout=30)
    finally:
        eventually(lambda: any(p["name"] == victim and p["ready"] for p in stack.pods()), 30, "the pod back")
    return result[-1]


def test_pod_killed_mid_request_behind_a_sidecar_is_a_503_that_reset_does_not_retry(
        stack: StackHandle, client: httpx.Client) -> None:
    # The pod's sidecar answers 503 for its application's reset: the gateway gets
    # a response, not a reset, so `retryOn: reset` has nothing to act on.
    r = _reset_mid_request(stack, client, "reset-retried")
    assert r.status_code == 503
    assert r.text == "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
    assert upstream(r)["pod"] == "chat-v1-us-east-0" and upstream(r)["attempts"] == "1"


def test_pod_killed_mid_request_behind_a_sidecar_is_retried_by_5xx(stack: StackHandle,
                                                                     client: httpx.Client) -> None:
    r = _reset_mid_request(stack, client, "sidecar-5xx-retried")
    assert r.status_code == 200
    assert upstream(r)["pod"] == "chat-v1-us-east-1" and upstream(r)["attempts"] == "2"


def test_pod_killed_mid_request_is_not_retried_by_the_default_policy(stack: StackHandle,
                                                                     client: httpx.Client) -> None:
    # Istio's default retryOn (connect-failure, refused-stream, unavailable, ...)
    # has no `5xx`, and since 1.24 no retriable 503
    r = _reset_mid_request(stack, client, "reset-default")
    assert r.status_code == 503
    assert r.text == "upstream connect error or disconnect/reset before headers. reset reason: connection termination"


def test_pending_overflow_is_503_with_x_envoy_overloaded(client: httpx.Client) -> None:
    # narrow: 1 connection, 1 pending; three long requests at once
    def long(_: int) -> httpx.Response:
        return ask(client, {"x-test": "narrow"}, max_tokens=80)

    with cf.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(long, range(3)))
    overflowed = [r for r in results if r.status_code == 503]
    assert len(overflowed) == 1, [r.status_code for r in results]
    assert overflowed[0].headers["x-envoy-overloaded"] == "true"
    assert "reset reason: overflow" in overflowed[0].text
    assert sum(r.status_code == 200 for r in results) == 2


# -- outlier detection and locality failover --------------------------------------

def test_consecutive_5xx_eject_a_pod_for_base_ejection_time(stack: StackHandle, client: httpx.Client) -> None:
    wait_no_ejections(stack)
    pod = "chat-v1-us-west-0"
    set_fault(stack, pod, kind="error_rate", rate=1.0, status=500)
    try:
        for _ in range(3):  # consecutive5xxErrors: 3
            r = ask(client, {"x-region": "us-west"})
            assert r.status_code == 500
        info = cluster_info(stack, "outbound|8000|us-west|")
        assert info["ejected"] == [pod]
        # the only us-west host is ejected: no healthy upstream
        r = ask(client, {"x-region": "us-west"})
        assert (r.status_code, r.text) == (503, "no healthy upstream")
    finally:
        set_fault(stack, pod)
    # back after baseEjectionTime (2 s) at an interval tick
    eventually(lambda: ask(client, {"x-region": "us-west"}).status_code == 200, 10, "the pod to return")


def test_repeat_ejection_lasts_longer(stack: StackHandle, client: httpx.Client) -> None:
    wait_no_ejections(stack)
    pod = "chat-v1-us-west-0"

    def eject() -> float:
        set_fault(stack, pod, kind="error_rate", rate=1.0, status=500)
        for _ in range(3):
            ask(client, {"x-region": "us-west"})
        set_fault(stack, pod)
        start = time.monotonic()
        eventually(lambda: ask(client, {"x-region": "us-west"}).status_code == 200, 20, "un-ejection")
        return time.monotonic() - start

    # Envoy takes one off the ejection count per healthy interval, so the second
    # ejection must come within an interval of the first one's end: a 1 s
    # interval leaves room for a loaded machine.
    slow_ticks = {"spec": {"trafficPolicy": {"outlierDetection": {"interval": "1s"}}}}
    assert httpx.patch(f"{mesh_admin(stack)}{DR_URL}/chat", json=slow_ticks).status_code == 200
    try:
        first = eject()
        second = eject()  # at once: the multiplier is 2, so ~4 s instead of ~2 s
        assert cluster_info(stack, "outbound|8000|us-west|")["ejections"][pod] >= 1
        assert second > first + 1.0, (first, second)
    finally:
        httpx.delete(f"{mesh_admin(stack)}{DR_URL}/chat")


def test_locality_failover_follows_us_east_us_west_eu_west(stack: StackHandle, client: httpx.Client) -> None:
    wait_no_ejections(stack)
    admin = stack.state.admin
    pinned = {"x-version": "v1"}
    assert {upstream(r)["region"] for r in many(client, 20, pinned)} == {"us-east"}
    httpx.post(f"{admin}/regions/us-east/stop", json={"mode": "kill"}).raise_for_status()
    try:
        # Until outlier detection ejects the us-east endpoints, calls get their
        # sidecars' 503 (not retried by connect-failure); then all go to us-west.
        def us_east_ejected() -> bool:
            ask(client, pinned)  # traffic is what drives outlier detection
            ejected = set(cluster_info(stack, "outbound|8000|v1|")["ejected"])
            return {"chat-v1-us-east-0", "chat-v1-us-east-1"} <= ejected

        eventually(us_east_ejected, 15, "both us-east v1 pods ejected")
        regions = Counter(upstream(r).get("region") for r in many(client, 30, pinned))
        assert regions == Counter({"us-west": 30}), regions
        httpx.post(f"{admin}/regions/us-west/stop", json={"mode": "kill"}).raise_for_status()
        eventually(lambda: upstream(ask(client, pinned)).get("region") == "eu-west", 15, "failover to eu-west")
    finally:
        httpx.post(f"{admin}/regions/us-east/start").raise_for_status()
        httpx.post(f"{admin}/regions/us-west/start").raise_for_status()
    eventually(lambda: len(stack.pods(ready=True)) == 7, 30, "all pods ready again")
    wait_no_ejections(stack)


def test_without_outlier_detection_failover_is_inactive(stack: StackHandle, client: httpx.Client) -> None:
    wait_no_ejections(stack)
    dr = httpx.get(f"{mesh_admin(stack)}{DR_URL}/chat").json()
    no_od = {**dr, "spec": {**dr["spec"], "trafficPolicy": {
        k: v for k, v in dr["spec"]["trafficPolicy"].items() if k != "outlierDetection"}}}
    assert httpx.put(f"{mesh_admin(stack)}{DR_URL}/chat", json=no_od).status_code == 200
    try:
        # Istio ignores the failover list without outlier detection: v1 traffic
        # spreads over every region instead of staying in us-east.
        regions = Counter(upstream(r)["region"] for r in many(client, 60, {"x-version": "v1"}))
        assert set(regions) == {"us-east", "us-west", "eu-west"}, regions
    finally:
        httpx.delete(f"{mesh_admin(stack)}{DR_URL}/chat")
    regions = Counter(upstream(r)["region"] for r in many(client, 30, {"x-version": "v1"}))
    assert set(regions) == {"us-east"}


# -- reloads ---------------------------------------------------------------------

def test_file_change_reloads_without_dropping_requests(stack: StackHandle, client: httpx.Client) -> None:
    istio_dir = stack.options.istio[0]
    path = istio_dir / "chat.yaml"
    original = path.read_text()
    reloads = httpx.get(f"{mesh_admin(stack)}/healthz").json()["reloads"]
    stop = threading.Event()
    codes: list[int] = []

    def load() -> None:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            codes.append(ask(client, {"x-version": "v1"}, max_tokens=3).status_code)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        path.write_text(original.replace("name: pinned-v1\n", "name: pinned-v1-renamed\n"))
        eventually(lambda: httpx.get(f"{mesh_admin(stack)}/healthz").json()["reloads"] > reloads, 10, "a reload")
        path.write_text(original.replace("subset: us-west}", "subset: v2}", 1))
        eventually(lambda: upstream(ask(client, {"x-region": "us-west"})).get("version") == "v2", 10,
                   "the edited route")
    finally:
        stop.set()
        for t in threads:
            t.join()
        path.write_text(original)
    assert codes and set(codes) == {200}, Counter(codes)
    eventually(lambda: upstream(ask(client, {"x-region": "us-west"})).get("region") == "us-west", 10, "restore")
