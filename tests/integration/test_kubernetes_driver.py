"""The Kubernetes target against the API contract. No cluster runs here, so a
local test server answers the Kubernetes API paths; the tests check the
requests the driver sends (paths, verbs, bodies) and how it reads answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from harness.localstack.testing import serve_in_thread
from harness.targets.base import NothingMatched, TargetError, TargetUnsupported
from harness.targets.kubernetes import ALLOW_LABEL, KubernetesTarget

pytestmark = pytest.mark.integration

VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
      "metadata": {"name": "llm-chat", "namespace": "llm", "resourceVersion": "41"},
      "spec": {"hosts": ["llm-chat"], "http": [{"name": "default", "route": [{"destination": {"host": "llm-chat"}}]}]}}

HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "chat-v1", "namespace": "llm", "resourceVersion": "7", "uid": "u-1"},
       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat-v1"},
                "minReplicas": 2, "maxReplicas": 4,
                "metrics": [{"type": "Pods", "pods": {"metric": {"name": "vllm:num_requests_waiting"},
                                                      "target": {"type": "AverageValue", "averageValue": "5"}}}]},
       "status": {"currentReplicas": 2, "desiredReplicas": 2}}


class FakeAPI:
    """Just enough of the Kubernetes API, recording every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.pods = [self._pod("chat-a", {"app": "llm-chat", "region": "us-east"}),
                     self._pod("chat-b", {"app": "llm-chat", "region": "us-west"})]
        self.vs = json.loads(json.dumps(VS))
        self.hpa = json.loads(json.dumps(HPA))
        self.replicas = {"chat-v1-us-east": 2, "chat-v2-us-east": 1}
        self.policies: dict[str, dict[str, Any]] = {}
        self.keep_policies = True  # False: creations are accepted and dropped (an admission webhook)

    @staticmethod
    def _pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "llm", "labels": labels},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [{"name": "vllm", "restartCount": 1, "ready": True, "image": "x",
                                                  "imageID": "y", "image_id": "y"}]}}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        r = app.router
        r.add_get("/api/v1/namespaces/{ns}", self.namespace)
        r.add_get("/api/v1/namespaces/{ns}/pods", self.list_pods)
        r.add_delete("/api/v1/namespaces/{ns}/pods/{name}", self.delete_pod)
        r.add_get("/apis/apps/v1/namespaces/{ns}/deployments", self.list_deployments)
        r.add_get("/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale", self.get_scale)
        r.add_patch("/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale", self.patch_scale)
        r.add_get("/apis/networking.istio.io/v1/namespaces/{ns}/virtualservices/{name}", self.get_vs)
        r.add_put("/apis/networking.istio.io/v1/namespaces/{ns}/virtualservices/{name}", self.put_vs)
        r.add_get("/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}", self.get_hpa)
        r.add_put("/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}", self.put_hpa)
        r.add_post("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", self.create_np)
        r.add_get("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}", self.get_np)
        r.add_delete("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}", self.delete_np)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.requests.append({"method": request.method, "path": request.path, "query": dict(request.query),
                              "content_type": request.content_type,
                              "body": json.loads(body) if body else None})
        return await handler(request)

    async def namespace(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        labels = {ALLOW_LABEL: "true"} if ns == "llm" else {}
        return web.json_response({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}})

    async def list_pods(self, request: web.Request) -> web.Response:
        want = dict(kv.split("=", 1) for kv in request.query.get("labelSelector", "").split(",") if "=" in kv)
        items = [p for p in self.pods if all(p["metadata"]["labels"].get(k) == v for k, v in want.items())]
        return web.json_response({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items})

    async def delete_pod(self, request: web.Request) -> web.Response:
        pod = next(p for p in self.pods if p["metadata"]["name"] == request.match_info["name"])
        return web.json_response(pod)

    async def list_deployments(self, request: web.Request) -> web.Response:
        items = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": n, "namespace": "llm",
                                                                              "labels": {"region": "us-east"}},
                  "spec": {"replicas": r, "selector": {"matchLabels": {"app": "x"}},
                           "template": {"metadata": {}, "spec": {"containers": []}}}}
                 for n, r in self.replicas.items()]
        return web.json_response({"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {}, "items": items})

    def _scale(self, name: str) -> dict[str, Any]:
        return {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": name, "namespace": "llm"},
                "spec": {"replicas": self.replicas[name]}, "status": {"replicas": self.replicas[name]}}

    async def get_scale(self, request: web.Request) -> web.Response:
        return web.json_response(self._scale(request.match_info["name"]))

    async def patch_scale(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.replicas[name] = (await request.json())["spec"]["replicas"]
        return web.json_response(self._scale(name))

    async def get_vs(self, request: web.Request) -> web.Response:
        return web.json_response(self.vs)

    async def put_vs(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("metadata", {}).get("resourceVersion") != self.vs["metadata"]["resourceVersion"]:
            return web.json_response({"kind": "Status", "code": 409, "reason": "Conflict"}, status=409)
        body["metadata"]["resourceVersion"] = str(int(body["metadata"]["resourceVersion"]) + 1)
        self.vs = body
        return web.json_response(body)

    async def get_hpa(self, request: web.Request) -> web.Response:
        return web.json_response(self.hpa)

    async def put_hpa(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("metadata", {}).get("resourceVersion") not in (None, self.hpa["metadata"]["resourceVersion"]):
            return web.json_response({"kind": "Status", "code": 409, "reason": "Conflict"}, status=409)
        body["metadata"]["resourceVersion"] = str(int(self.hpa["metadata"]["resourceVersion"]) + 1)
        self.hpa = {**body, "status": self.hpa["status"]}
        return web.json_response(self.hpa)

    async def create_np(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.keep_policies:
            self.policies[body["metadata"]["name"]] = body
        return web.json_response(body, status=201)

    async def get_np(self, request: web.Request) -> web.Response:
        policy = self.policies.get(request.match_info["name"])
        if policy is None:
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"}, status=404)
        return web.json_response(policy)

    async def delete_np(self, request: web.Request) -> web.Response:
        if self.policies.pop(request.match_info["name"], None) is None:
            return web.json_response({"kind": "Status", "code": 404, "reason": "NotFound"}, status=404)
        return web.json_response({"kind": "Status", "status": "Success"})


@pytest.fixture
def api() -> Iterator[tuple[FakeAPI, KubernetesTarget]]:
    from kubernetes import client

    fake = FakeAPI()
    with serve_in_thread(fake.app()) as url:
        conf = client.Configuration(host=url)
        yield fake, KubernetesTarget(client.ApiClient(conf), "llm")


def calls(fake: FakeAPI, method: str) -> list[dict[str, Any]]:
    return [r for r in fake.requests if r["method"] == method]


def test_list_pods_by_label_selector(api) -> None:  # type: ignore[no-untyped-def]
    fake, target = api
    pods = target.list_pods("app=llm-chat,region=us-east")
    assert [p.name for p in pods] == ["chat-a"] and pods[0].ready and pods[0].restarts == 1
    get = [r for r in calls(fake, "GET") if r["path"] == "/api/v1/namespaces/llm/pods"][0]
    assert get["query"]["labelSelector"] == "app=llm-chat,region=us-east"
    assert calls(fake, "GET")[0]["path"] == "/api/v1/namespaces/llm"  # the allowlist is checked first


def test_selector_matching_nothing_is_an_error(api) -> None:  # type: ignore[no-untyped-def]
    _, target = api
    with pytest.raises(NothingMatched, match="matches no pod"):
        target.list_pods("app=nothing")


def test_namespace_without_the_chaos_label_is_refused(api) -> None:  # type: ignore[no-untyped-def]
    fake, target = api
    with pytest.raises(TargetError, match=f"kubectl label namespace prod {ALLOW_LABEL}=true"):
        target.delete_pod("chat-a", namespace="prod")
    assert not calls(fake, "DELETE")


def test_delete_pod_sends_the_grace_period(api) -> None:  # type: ignore[no-untyped-def]
    fake, target = api
    target.delete_pod("chat-a", grace_period_s=7)
    [d] = calls(fake, "DELETE")
    assert d["path"] == "/api/v1/namespaces/llm/pods/chat-a"
    assert d["query"]["gracePeriodSeconds"] == "7"


def test_scale_reads_then_patches_the_scale_subresource(api) -> None:  # type: ignore[no-untyped-def]
    fake, target = api
    assert target.scale("chat-v1-us-east", 0) == 2
    [p] = calls(fake, "PATCH")
    assert p["path"] == "/apis/apps/v1/namespaces/llm/deployments/chat-v1-us-east/scale"
    assert p["body"] == {"spec": {"replicas": 0}} and "patch" in p["content_type"]


def test_istio_objects_through_the_custom_objects_api(api) -> None:  # type: ignore[no-untyped-def]
    fake, target = api
    vs = target.get_istio("VirtualService", "llm-chat")
    assert vs["metadata"]["resourceVersion"] == "41"
    vs["spec"]["http"][0]["fault"] = {"abort": {"httpStatus": 503, "percentage": {"value": 100.0}}}
    target.replace_istio("VirtualService", "llm-chat", vs)
    [put] = calls(fake, "PUT")
    assert put["path"] == "/apis/networking.istio.io/v1/namespaces/llm/virtualservices/llm-chat"
    assert put["body"]["spec"]["http"][0]["fault"]["abort"]["httpStatus"] == 503


@pytest.fixture
def kube_config(api, tmp_path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """A chaos configuration whose target is the driver talking to the fake API."""
    from harness.targets.factory import register_target, unregister_target

    register_target("kube-fake-api", lambda cfg: api[1])
    try:
        yield {"harness_target": "kube-fake-api", "harness_journal": str(tmp_path / "j.jsonl"),
               "harness_confirm_timeout_s": 1, "harness_poll_interval_s": 0.05}
    finally:
        unregister_target("kube-fake-api")


def test_inject_abort_and_rollback_on_kubernetes(api, kube_config) -> None:  # type: ignore[no-untyped-def]
    from harness.chaos import actions

    fake, _ = api
    config = kube_config
    actions.inject_abort("llm-chat", http_status=500, percentage=25, route="default", configuration=config)
    assert fake.vs["spec"]["http"][0]["fault"] == {"abort": {"httpStatus": 500, "percentage": {"value": 25.0}}}
    actions.rollback_all(configuration=config)
    assert "fault" not in fake.vs["spec"]["http"][0]
    puts = calls(fake, "PUT")
    assert len(puts) == 2 and puts[1]["body"]["metadata"]["resourceVersion"] == "42"  # the current version


def test_region_outage_scales_the_regions_deployments_and_restores_them(api) -> None:  # type: ignore[no-untyped-def]
    fake, target = api
    undo = target.region_down("us-east", "kill")
    assert fake.replicas == {"chat-v1-us-east": 0, "chat-v2-us-east": 0}
    lists = [r for r in calls(fake, "GET") if r["path"].endswith("/deployments")]
    assert lists[0]["query"]["labelSelector"] == "region=us-east"
    target.region_up("us-east", undo)
    assert fake.replicas == {"chat-v1-us-east": 2, "chat-v2-us-east": 1}


def test_region_blackhole_is_a_deny_all_network_policy(api) -> None:  # type: ignore[no-untyped-def]
    fake, target = api
    undo = target.region_down("us-west", "blackhole")
    [post] = calls(fake, "POST")
    assert post["path"] == "/apis/networking.k8s.io/v1/namespaces/llm/networkpolicies"
    spec = post["body"]["spec"]
    assert spec["podSelector"] == {"matchLabels": {"region": "us-west"}}
    assert spec["ingress"] == [] and spec["egress"] == [] and set(spec["policyTypes"]) == {"Ingress", "Egress"}
    target.region_up("us-west", undo)
    [delete] = calls(fake, "DELETE")
    assert delete["path"].endswith("/networkpolicies/harness-blackhole-us-west")
    target.region_up("us-west", undo)  # replayed after an interrupted rollback: already gone is done


def test_region_blackhole_action_confirms_the_policy_exists_and_removes_it(api, kube_config) -> None:  # type: ignore[no-untyped-def]
    from harness.chaos import actions

    fake, _ = api
    actions.region_outage("us-west", mode="blackhole", configuration=kube_config)
    assert list(fake.policies) == ["harness-blackhole-us-west"]
    assert any(r["method"] == "GET" and r["path"].endswith("/networkpolicies/harness-blackhole-us-west")
               for r in fake.requests)
    actions.rollback_all(configuration=kube_config)
    assert fake.policies == {}


def test_region_blackhole_whose_policy_never_appears_fails(api, kube_config) -> None:  # type: ignore[no-untyped-def]
    from harness.chaos import actions
    from harness.chaos.errors import ChaosActionFailed
    from harness.chaos.journal import Journal

    fake, _ = api
    fake.keep_policies = False
    with pytest.raises(ChaosActionFailed, match="NetworkPolicy llm/harness-blackhole-us-west does not exist"):
        actions.region_outage("us-west", mode="blackhole", configuration=kube_config)
    assert [e.state for e in Journal(kube_config["harness_journal"]).entries()] == ["failed"]


def test_engine_simulator_faults_are_not_offered_on_a_cluster(api) -> None:  # type: ignore[no-untyped-def]
    _, target = api
    pod = target.list_pods("app=llm-chat")[0]
    with pytest.raises(TargetUnsupported, match="inject_abort"):
        target.engine_fault(pod, {"kind": "slow", "factor": 2})


def test_unreachable_api_server_is_one_clear_error() -> None:
    from kubernetes import client

    target = KubernetesTarget(client.ApiClient(client.Configuration(host="http://127.0.0.1:9")), "llm")
    with pytest.raises(TargetError, match="unreachable"):
        target.list_pods("app=llm-chat")


def test_server_dry_run_sends_server_side_apply_with_dry_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kubernetes import client

    from harness.validation.server_dry_run import server_dry_run

    seen: list[dict[str, Any]] = []

    async def apply(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append({"path": request.path, "query": dict(request.query), "ctype": request.content_type,
                     "body": json.loads(body)})
        if request.match_info["name"] == "bad":
            return web.json_response({"kind": "Status", "code": 422, "reason": "Invalid",
                                      "message": 'Deployment.apps "bad" is invalid: spec.template: denied by webhook'},
                                     status=422)
        return web.json_response(json.loads(body))

    app = web.Application()
    app.router.add_patch("/apis/apps/v1/namespaces/{ns}/deployments/{name}", apply)
    app.router.add_patch("/api/v1/namespaces/{name}", apply)
    manifest = ("apiVersion: v1\nkind: Namespace\nmetadata: {name: llm}\n---\n"
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad, namespace: llm}\nspec:\n"
                "  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n"
                "    spec: {containers: [{name: c, image: i}]}\n")
    (tmp_path / "m.yaml").write_text(manifest)
    with serve_in_thread(app) as url:
        diags = server_dry_run([tmp_path], api_client=client.ApiClient(client.Configuration(host=url)))
    assert [s["path"] for s in seen] == ["/api/v1/namespaces/llm", "/apis/apps/v1/namespaces/llm/deployments/bad"]
    assert all(s["query"]["dryRun"] == "All" and s["ctype"] == "application/apply-patch+yaml" for s in seen)
    [d] = diags
    assert "Deployment/bad" in str(d) and "denied by webhook" in str(d) and "m.yaml" in str(d)


def test_broken_mesh_rewrites_an_hpa_and_restores_it_under_its_current_version(
        api: tuple[FakeAPI, KubernetesTarget]) -> None:
    from harness.certify.broken import broken_mesh
    from harness.certify.registry import discover

    fake, target = api
    requirement = next(r for r in discover() if r.id == "autoscaling.hpa-scale-up")
    original = json.loads(json.dumps(fake.hpa["spec"]))
    with broken_mesh(target, requirement):
        assert fake.hpa["spec"]["maxReplicas"] == 2  # capped at minReplicas
        assert fake.hpa["metadata"]["resourceVersion"] == "8"
    assert fake.hpa["spec"] == original
    puts = [r for r in fake.requests if r["method"] == "PUT"]
    assert [r["path"] for r in puts] == ["/apis/autoscaling/v2/namespaces/llm/horizontalpodautoscalers/chat-v1"] * 2
    assert all("status" not in r["body"] for r in puts)  # a spec write, not a status write
    assert puts[1]["body"]["metadata"]["resourceVersion"] == "8"  # the version the server holds now


def test_broken_mesh_restores_an_istio_object_under_its_current_version(
        api: tuple[FakeAPI, KubernetesTarget]) -> None:
    # the API server refuses a custom object's update without a resourceVersion
    from harness.certify.broken import broken_mesh
    from harness.certify.registry import discover

    fake, target = api
    requirement = next(r for r in discover() if r.broken.kind == "VirtualService" and r.broken.name == "llm-chat")
    fake.vs["spec"]["http"] = [{"name": n, "route": [{"destination": {"host": "llm-chat"}}]}
                               for n in ("premium-tier", "default-canary")]
    original = json.loads(json.dumps(fake.vs["spec"]))
    with broken_mesh(target, requirement):
        pass
    assert fake.vs["spec"] == original and fake.vs["metadata"]["resourceVersion"] == "43"
