"""The mesh proxy's admin API: health, Istio telemetry on /metrics, the
clusters' live state, and a Kubernetes-shaped API for the Istio objects
(`/apis/networking.istio.io/v1/namespaces/{ns}/{plural}[/{name}]`: list, get,
create, replace, merge-patch; delete reverts an override to the files).
Module-level handlers read the mesh from the app (see docs/mesh-proxy.md)."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from harness.istio.destination_rule import DestinationRule
from harness.istio.virtual_service import VirtualService
from harness.localstack.apistatus import status_response
from harness.localstack.mesh.app import IstioObject, MeshApp

__all__ = ["build_admin_app", "merge_patch", "MESH"]

log = logging.getLogger("mesh")

MESH: web.AppKey[MeshApp] = web.AppKey("mesh", MeshApp)
_KINDS: dict[str, tuple[str, type[VirtualService] | type[DestinationRule]]] = {
    "virtualservices": ("VirtualService", VirtualService),
    "destinationrules": ("DestinationRule", DestinationRule),
}
_OBJECTS = "/apis/networking.istio.io/v1/namespaces/{ns}/{plural}"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as `kubectl patch --type merge` sends. Pure."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _not_found(kind: str, name: str | None) -> web.Response:
    return status_response(404, f'{kind.lower()}s.networking.istio.io "{name}" not found', "NotFound")


def _dump(obj: BaseModel) -> dict[str, Any]:
    return obj.model_dump(by_alias=True, exclude_none=True)


def _kind_of(request: web.Request) -> tuple[str, type[VirtualService] | type[DestinationRule]]:
    plural = request.match_info["plural"]
    if plural not in _KINDS:
        raise web.HTTPNotFound(text=json.dumps({"message": f"unknown resource {plural}"}),
                               content_type="application/json")
    return _KINDS[plural]


async def healthz(request: web.Request) -> web.Response:
    mesh = request.app[MESH]
    return web.json_response({"ok": True, "reloads": mesh.reloads, "endpoints_version": mesh.endpoints_version})


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(request.app[MESH].telemetry.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def clusters(request: web.Request) -> web.Response:
    out = []
    for c in request.app[MESH].proxy.table.clusters.values():
        ejected = c.ejected()
        out.append({"name": c.name, "host": c.host, "subset": c.subset,
                    "levels": [[e.pod for e in lvl] for lvl in c.balancer.levels],
                    "ejected": sorted(ejected), "active": c.pool.active, "pending": c.pool.pending,
                    "connections": c.connections.connections, "connects": c.connections.opened,
                    "inflight": {p: n for p, n in c.balancer.active.items() if n},
                    "ejections": {h: s.ejections for h, s in (c.outlier.hosts.items() if c.outlier else [])}})
    return web.json_response({"clusters": out})


async def list_objects(request: web.Request) -> web.Response:
    kind, _ = _kind_of(request)
    return web.json_response({"kind": f"{kind}List", "apiVersion": "networking.istio.io/v1",
                              "items": [_dump(o) for o in request.app[MESH].objects(kind)]})


async def get_object(request: web.Request) -> web.Response:
    kind, _ = _kind_of(request)
    name = request.match_info["name"]
    obj = request.app[MESH].find(kind, name)
    return _not_found(kind, name) if obj is None else web.json_response(_dump(obj))


async def write_object(request: web.Request) -> web.Response:
    """POST (create), PUT (replace) and PATCH (JSON merge patch) of one object."""
    mesh = request.app[MESH]
    kind, model = _kind_of(request)
    name = request.match_info.get("name")
    try:
        payload = await request.json()
    except ValueError:
        return status_response(400, "body is not JSON", "BadRequest")
    if request.method == "PATCH":
        current = mesh.find(kind, name or "")
        if current is None:
            return _not_found(kind, name)
        payload = merge_patch(_dump(current), payload)
    elif request.method == "POST":
        name = (payload.get("metadata") or {}).get("name") if isinstance(payload, dict) else None
    try:
        new: IstioObject = model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return status_response(422, f"{kind} {name} is invalid: {problems}", "Invalid")
    if new.metadata.name != name:
        return status_response(400, "metadata.name does not match the URL", "BadRequest")
    mesh.override(kind, new)
    log.info("%s/%s replaced through the admin API", kind, name)
    return web.json_response(_dump(new))


async def delete_override(request: web.Request) -> web.Response:
    kind, _ = _kind_of(request)
    return web.json_response({"reverted": request.app[MESH].revert(kind, request.match_info["name"])})


def build_admin_app(mesh: MeshApp) -> web.Application:
    app = web.Application()
    app[MESH] = mesh
    app.add_routes([
        web.get("/healthz", healthz), web.get("/metrics", metrics), web.get("/clusters", clusters),
        web.get(_OBJECTS, list_objects), web.post(_OBJECTS, write_object),
        web.get(_OBJECTS + "/{name}", get_object), web.put(_OBJECTS + "/{name}", write_object),
        web.patch(_OBJECTS + "/{name}", write_object), web.delete(_OBJECTS + "/{name}", delete_override),
    ])
    return app
