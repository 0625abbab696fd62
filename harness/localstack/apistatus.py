"""Errors as the Kubernetes API server answers them (a `Status` object), for
the local stack's Kubernetes-shaped admin APIs (Istio objects on the mesh
proxy, HPAs on the orchestrator), so a client reads one error shape on both
targets."""

from __future__ import annotations

from aiohttp import web

__all__ = ["status_response"]


def status_response(code: int, message: str, reason: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                              "reason": reason, "code": code}, status=code)
