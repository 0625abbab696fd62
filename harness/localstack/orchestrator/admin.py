"""The orchestrator's admin API (see docs/local-stack-contracts.md).

This is what the local target driver and the mesh proxy talk to: list pods by
label selector (with long-poll for endpoint changes), delete a pod, stop and
start a region, scale a deployment, and kube-state-metrics on `/metrics`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from harness.localstack.apistatus import status_response
from harness.localstack.orchestrator.core import HPAStatus, Orchestrator
from harness.localstack.orchestrator.hpa_object import from_object, to_object
from harness.localstack.orchestrator.kube_metrics import render_kube_state_metrics
from harness.selectors import SelectorError, parse_selector

__all__ = ["build_admin_app"]

ORCH: web.AppKey[Orchestrator] = web.AppKey("orchestrator", Orchestrator)
INFO: web.AppKey[dict[str, Any]] = web.AppKey("info", dict)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def list_pods(request: web.Request) -> web.Response:
    orch = request.app[ORCH]
    q = request.query
    try:
        selector = parse_selector(q.get("selector") or q.get("labelSelector") or "")
    except SelectorError as exc:
        return _error(400, str(exc))
    if "wait" in q:
        try:
            seen, timeout = int(q["wait"]), min(float(q.get("timeout", "10")), 60.0)
        except ValueError:
            return _error(400, "wait must be an integer version and timeout a number of seconds")
        await orch.wait_for_change(seen, timeout)
    ready_only = q.get("ready", "").lower() in ("1", "true", "yes")
    pods = sorted(orch.select(selector, ready_only=ready_only), key=lambda p: p.name)
    return web.json_response({"version": orch.version, "pods": [p.as_json() for p in pods]})


async def delete_pod(request: web.Request) -> web.Response:
    orch = request.app[ORCH]
    name = request.match_info["name"]
    if name not in orch.pods or orch.pods[name].deleted:
        return _error(404, f"pod {name!r} not found")
    try:
        grace = float(request.query.get("grace_period", request.query.get("gracePeriodSeconds", "0")))
    except ValueError:
        return _error(400, "grace_period must be a number of seconds")
    await orch.delete_pod(name, grace_period=grace)
    return web.json_response({"killed": name})


async def kill_container(request: web.Request) -> web.Response:
    """SIGKILL the pod's process: the pod restarts it in place (restart count grows)."""
    orch = request.app[ORCH]
    name = request.match_info["name"]
    pod = orch.pods.get(name)
    if pod is None or pod.deleted:
        return _error(404, f"pod {name!r} not found")
    pod.kill_container()
    return web.json_response({"killed_container": name, "restarts": pod.restarts})


async def region_action(request: web.Request) -> web.Response:
    orch = request.app[ORCH]
    region, action = request.match_info["region"], request.match_info["action"]
    if region not in orch.topology.regions:
        return _error(404, f"region {region!r} not found; regions are {orch.topology.regions}")
    if action == "stop":
        body = await request.json() if request.can_read_body else {}
        mode = body.get("mode", "kill")
        if mode not in ("kill", "freeze"):
            return _error(400, "mode must be 'kill' or 'freeze'")
        return web.json_response({"region": region, "mode": mode, "pods": orch.stop_region(region, mode)})
    if action == "start":
        return web.json_response({"region": region, "pods": orch.start_region(region)})
    return _error(404, f"unknown region action {action!r}; use stop or start")


async def scale(request: web.Request) -> web.Response:
    orch = request.app[ORCH]
    name = request.match_info["name"]
    try:
        replicas = int((await request.json())["replicas"])
    except (KeyError, ValueError, TypeError):
        return _error(400, 'body must be {"replicas": <int>}')
    if replicas < 0:
        return _error(400, "replicas cannot be negative")
    try:
        await orch.scale(name, replicas)
    except KeyError:
        return _error(404, f"deployment {name!r} not found")
    return web.json_response({"deployment": name, "replicas": replicas})


async def deployments(request: web.Request) -> web.Response:
    orch = request.app[ORCH]
    out = []
    for d in orch.topology.deployments:
        pods = orch.deployment_pods(d.name)
        out.append({
            "name": d.name, "region": d.region, "labels": {**d.labels, "region": d.region},
            "replicas": orch.desired[d.name], "pods": len(pods),
            "available": sum(1 for p in pods if p.ready and not p.region_down),
        })
    return web.json_response({"deployments": out})


async def hpas(request: web.Request) -> web.Response:
    return web.json_response({"hpas": [h.as_json() for h in request.app[ORCH].hpas.values()]})


_HPAS = "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers"


def _hpa_or_error(request: web.Request) -> HPAStatus | web.Response:
    orch, name = request.app[ORCH], request.match_info["name"]
    if request.match_info["ns"] != orch.topology.namespace:
        return status_response(404, f"namespace {request.match_info['ns']!r}: the local stack's is "
                                f"{orch.topology.namespace!r}", "NotFound")
    status = orch.hpas.get(name)
    if status is None:
        return status_response(404, f'horizontalpodautoscalers.autoscaling "{name}" not found', "NotFound")
    return status


async def hpa_objects(request: web.Request) -> web.Response:
    orch = request.app[ORCH]
    ns = orch.topology.namespace
    items = [to_object(h.spec, ns, h.as_json()) for h in orch.hpas.values()] \
        if request.match_info["ns"] == ns else []
    return web.json_response({"kind": "HorizontalPodAutoscalerList", "apiVersion": "autoscaling/v2",
                              "items": items})


async def get_hpa_object(request: web.Request) -> web.Response:
    found = _hpa_or_error(request)
    if isinstance(found, web.Response):
        return found
    return web.json_response(to_object(found.spec, request.app[ORCH].topology.namespace, found.as_json()))


async def replace_hpa_object(request: web.Request) -> web.Response:
    """PUT an autoscaling/v2 object: the controller applies it from its next sync."""
    found = _hpa_or_error(request)
    if isinstance(found, web.Response):
        return found
    try:
        spec = from_object(await request.json(), found.spec)
    except ValueError as exc:  # HPAObjectError, or a body that is not JSON
        return status_response(422, str(exc), "Invalid")
    found.replace_spec(spec)
    return web.json_response(to_object(spec, request.app[ORCH].topology.namespace, found.as_json()))


async def regions(request: web.Request) -> web.Response:
    orch = request.app[ORCH]
    return web.json_response({"regions": [
        {"name": r, "state": orch.stopped_regions.get(r, "up")} for r in orch.topology.regions
    ]})


async def services(request: web.Request) -> web.Response:
    topo = request.app[ORCH].topology
    return web.json_response({"services": [s.model_dump() for s in topo.services],
                              "namespace": topo.namespace})


async def metrics(request: web.Request) -> web.Response:
    body = render_kube_state_metrics(request.app[ORCH])
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


async def healthz(request: web.Request) -> web.Response:
    info: dict[str, Any] = request.app[INFO]
    return web.json_response({"ok": True, **info})


def build_admin_app(orch: Orchestrator, info: dict[str, Any] | None = None) -> web.Application:
    app = web.Application()
    app[ORCH] = orch
    app[INFO] = info or {}
    app.add_routes([
        web.get("/pods", list_pods),
        web.delete("/pods/{name}", delete_pod),
        web.post("/pods/{name}/kill", kill_container),
        web.post("/regions/{region}/{action}", region_action),
        web.post("/deployments/{name}/scale", scale),
        web.get("/deployments", deployments),
        web.get("/hpas", hpas),
        web.get(_HPAS, hpa_objects),
        web.get(_HPAS + "/{name}", get_hpa_object),
        web.put(_HPAS + "/{name}", replace_hpa_object),
        web.get("/regions", regions),
        web.get("/services", services),
        web.get("/metrics", metrics),
        web.get("/healthz", healthz),
    ])
    return app
