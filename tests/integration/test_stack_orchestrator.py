"""The orchestrator against real engine processes: lifecycle, regions, HPA, Prometheus.

One small stack per module (no mesh: these tests talk to pods directly).
Every wait polls a condition with a deadline; no fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.localstack.testing import StackHandle, eventually, running_stack

pytestmark = pytest.mark.integration

SMALL = Path(__file__).parent / "fixtures" / "topology-small.yaml"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with running_stack(topology=SMALL, mesh=False, state_dir=tmp_path_factory.mktemp("state")) as handle:
        yield handle


def pod_named(stack: StackHandle, name: str) -> dict | None:
    return next((p for p in stack.pods() if p["name"] == name), None)


def test_pods_are_listed_with_labels_and_ready(stack: StackHandle) -> None:
    pods = stack.pods(ready=True)
    assert {p["deployment"] for p in pods} >= {"chat-us-east", "chat-us-west"}
    east = stack.pods(selector="app=llm-chat,region=us-east")
    assert east and all(p["labels"]["topology.kubernetes.io/region"] == "us-east" for p in east)
    assert all(p["phase"] == "Running" and p["pid"] for p in pods)
    bad = httpx.get(f"{stack.state.admin}/pods", params={"selector": "app in ()"})
    assert bad.status_code == 400 and "selector" in bad.json()["error"]


def test_stream_a_completion_from_a_pod(stack: StackHandle) -> None:
    pod = stack.pods(selector="region=us-west", ready=True)[0]
    body = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
            "stream": True}
    with httpx.stream("POST", f"{pod['url']}/v1/chat/completions", json=body, timeout=30) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert r.status_code == 200
    assert lines[-1] == "data: [DONE]"
    assert any(json.loads(line[6:]).get("choices") for line in lines[:-1])


def test_container_kill_restarts_in_place(stack: StackHandle) -> None:
    pod = stack.pods(selector="region=us-west", ready=True)[0]
    r = httpx.post(f"{stack.state.admin}/pods/{pod['name']}/kill")
    assert r.status_code == 200
    restarted = eventually(
        lambda: (p := pod_named(stack, pod["name"])) and p["restarts"] == pod["restarts"] + 1 and p["ready"]
        and p["pid"] != pod["pid"] and p,
        30, "the killed container to restart and become ready")
    assert restarted["port"] == pod["port"]  # same pod, same address


def test_deleted_pod_is_replaced_by_a_new_pod(stack: StackHandle) -> None:
    before = stack.pods(selector="region=us-west")
    victim = before[0]["name"]
    r = httpx.delete(f"{stack.state.admin}/pods/{victim}", params={"grace_period": "1"})
    assert r.status_code == 200
    after = eventually(
        lambda: (ps := stack.pods(selector="region=us-west", ready=True)) and victim not in {p["name"] for p in ps}
        and len(ps) == len(before) and ps,
        30, "a replacement pod to become ready")
    assert after[0]["restarts"] == 0
    assert httpx.delete(f"{stack.state.admin}/pods/{victim}").status_code == 404


def test_repeated_crashes_back_off(stack: StackHandle) -> None:
    name = stack.pods(selector="region=us-west", ready=True)[0]["name"]
    phases: set[str] = set()
    for _ in range(3):
        pod = eventually(lambda: (p := pod_named(stack, name)) and p["pid"] and p, 30, "the pod to run again")
        httpx.post(f"{stack.state.admin}/pods/{name}/kill")
        eventually(lambda pod=pod: (p := pod_named(stack, name)) and p["pid"] != pod["pid"] and p, 30,
                   "the pod to notice the exit")
        phases.add(pod_named(stack, name)["phase"])
    assert "CrashLoopBackOff" in phases
    eventually(lambda: (p := pod_named(stack, name)) and p["ready"], 30, "recovery after the back-off")


def test_region_kill_and_freeze(stack: StackHandle) -> None:
    admin = stack.state.admin
    r = httpx.post(f"{admin}/regions/us-west/stop", json={"mode": "kill"})
    assert r.status_code == 200 and r.json()["pods"]
    eventually(lambda: all(p["phase"] == "Stopped" and p["pid"] is None
                           for p in stack.pods(selector="region=us-west")), 15, "us-west pods to stop")
    regions = httpx.get(f"{admin}/regions").json()["regions"]
    assert {"name": "us-west", "state": "kill"} in regions
    httpx.post(f"{admin}/regions/us-west/start")
    eventually(lambda: all(p["ready"] and p["phase"] == "Running" for p in stack.pods(selector="region=us-west")),
               30, "us-west to come back")

    pod = stack.pods(selector="region=us-west")[0]
    httpx.post(f"{admin}/regions/us-west/stop", json={"mode": "freeze"})
    eventually(lambda: pod_named(stack, pod["name"])["phase"] == "Frozen", 10, "the freeze")
    with pytest.raises(httpx.TimeoutException):
        httpx.get(f"{pod['url']}/health", timeout=0.5)  # accepts, never answers
    httpx.post(f"{admin}/regions/us-west/start")
    assert httpx.get(f"{pod['url']}/health", timeout=10).status_code == 200
    assert httpx.post(f"{admin}/regions/mars/stop").status_code == 404


def test_scale_deployment(stack: StackHandle) -> None:
    admin = stack.state.admin
    r = httpx.post(f"{admin}/deployments/chat-us-west/scale", json={"replicas": 2})
    assert r.status_code == 200
    eventually(lambda: len(stack.pods(selector="region=us-west", ready=True)) == 2, 30, "two us-west pods")
    httpx.post(f"{admin}/deployments/chat-us-west/scale", json={"replicas": 1})
    eventually(lambda: len(stack.pods(selector="region=us-west")) == 1, 30, "back to one pod")
    assert httpx.post(f"{admin}/deployments/nope/scale", json={"replicas": 1}).status_code == 404
    assert httpx.post(f"{admin}/deployments/chat-us-west/scale", json={"replicas": "x"}).status_code == 400


def test_long_poll_returns_on_change(stack: StackHandle) -> None:
    admin = stack.state.admin
    version = httpx.get(f"{admin}/pods").json()["version"]
    t0 = time.monotonic()
    unchanged = httpx.get(f"{admin}/pods", params={"wait": version, "timeout": 0.5}, timeout=5).json()
    assert unchanged["version"] == version and time.monotonic() - t0 >= 0.4
    pod = stack.pods(selector="region=us-west", ready=True)[0]
    httpx.post(f"{admin}/pods/{pod['name']}/kill")
    changed = httpx.get(f"{admin}/pods", params={"wait": version, "timeout": 10}, timeout=15).json()
    assert changed["version"] > version
    eventually(lambda: pod_named(stack, pod["name"])["ready"], 30, "the pod to come back")


async def _queue_load(urls: list[str], concurrency: int, max_tokens: int, deadline_s: float,
                      stop: threading.Event) -> int:
    """Keep `concurrency` long requests in flight until `stop` is set or the
    deadline passes; return how many completed."""
    done = 0
    stop_at = time.monotonic() + deadline_s

    async def worker(i: int) -> None:
        nonlocal done
        async with httpx.AsyncClient(timeout=30) as client:
            while time.monotonic() < stop_at and not stop.is_set():
                body = {"model": "llama-3-8b", "prompt": "load " * 8, "max_tokens": max_tokens}
                try:
                    await client.post(f"{urls[i % len(urls)]}/v1/completions", json=body)
                    done += 1
                except httpx.HTTPError:
                    pass

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return done


def test_hpa_scales_up_under_queued_load_and_back_down(stack: StackHandle) -> None:
    admin = stack.state.admin
    hpa = lambda: httpx.get(f"{admin}/hpas").json()["hpas"][0]  # noqa: E731
    assert hpa()["desiredReplicas"] == 1
    url = stack.pods(selector="region=us-east", ready=True)[0]["url"]
    stop = threading.Event()
    # maxNumSeqs is 2, so 12 long requests keep ~10 waiting against a target of 2 per pod:
    # ceil(1 * 10 / 2) = 5, clamped to maxReplicas 3.
    load = threading.Thread(target=lambda: asyncio.run(_queue_load([url], 12, 50, 40, stop)), daemon=True)
    load.start()
    try:
        eventually(lambda: hpa()["desiredReplicas"] == 3, 30, "the HPA to want 3 replicas under queued load")
        eventually(lambda: len(stack.pods(selector="region=us-east", ready=True)) == 3, 30,
                   "the HPA's pods to be ready")
    finally:
        stop.set()
        load.join(timeout=60)
    # Idle: after the 3 s scale-down window the HPA returns to its minimum.
    eventually(lambda: hpa()["desiredReplicas"] == 1, 30, "scale down after the load")
    eventually(lambda: len(stack.pods(selector="region=us-east")) == 1, 30, "pods removed")


def test_kube_state_metrics(stack: StackHandle) -> None:
    text = httpx.get(f"{stack.state.admin}/metrics").text
    for name in ("kube_deployment_status_replicas_available", "kube_deployment_spec_replicas",
                 "kube_pod_container_status_restarts_total", "kube_horizontalpodautoscaler_status_current_replicas",
                 "kube_horizontalpodautoscaler_status_desired_replicas"):
        assert f"\n{name}{{" in text, name
    assert 'kube_deployment_spec_replicas{cluster="us-west",deployment="chat-us-west",namespace="llm"}' in text


def test_prometheus_scrapes_engines_and_kube_state(stack: StackHandle) -> None:
    prom = stack.state.prometheus

    def series(query: str) -> list:
        r = httpx.get(f"{prom}/api/v1/query", params={"query": query}, timeout=5).json()
        return r["data"]["result"] if r.get("status") == "success" else []

    vllm = eventually(lambda: series('vllm:num_requests_running{job="engine"}'), 30, "vllm series")
    assert {s["metric"]["region"] for s in vllm} == {"us-east", "us-west"}
    assert all(s["metric"]["model_name"] == "llama-3-8b" and s["metric"]["pod"] for s in vllm)
    kube = eventually(lambda: series("kube_deployment_status_replicas_available"), 30, "kube series")
    assert {s["metric"]["deployment"] for s in kube} == {"chat-us-east", "chat-us-west"}


def test_hpa_as_an_autoscaling_v2_object(stack: StackHandle) -> None:
    from harness.targets.base import TargetError
    from harness.targets.local import LocalTarget

    target = LocalTarget(stack.state.admin, stack.state.mesh_admin, "llm")
    obj = target.get_hpa("chat-us-east")
    assert obj["kind"] == "HorizontalPodAutoscaler" and obj["spec"]["maxReplicas"] == 3
    assert obj["status"]["desiredReplicas"] >= 1
    obj["spec"]["behavior"]["scaleUp"]["selectPolicy"] = "Disabled"
    obj["spec"]["maxReplicas"] = 2
    try:
        target.replace_hpa("chat-us-east", obj)
        listed = httpx.get(f"{stack.state.admin}/hpas").json()["hpas"][0]
        assert listed["maxReplicas"] == 2
        assert target.get_hpa("chat-us-east")["spec"]["behavior"]["scaleUp"]["selectPolicy"] == "Disabled"
        bad = dict(obj, spec={**obj["spec"], "metrics": []})
        with pytest.raises(TargetError, match="422.*spec.metrics"):
            target.replace_hpa("chat-us-east", bad)
        with pytest.raises(TargetError, match="404"):
            target.get_hpa("no-such-hpa")
    finally:
        obj["spec"]["maxReplicas"] = 3
        obj["spec"]["behavior"]["scaleUp"]["selectPolicy"] = "Max"
        target.replace_hpa("chat-us-east", obj)
    assert target.get_hpa("chat-us-east")["spec"]["maxReplicas"] == 3
