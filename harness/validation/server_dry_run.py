"""`harness validate PATH --server-dry-run`: send every manifest to a reachable
cluster as a server-side apply with `dryRun=All`, so admission webhooks and
installed CRD schemas (Istio's included) judge it, and nothing is persisted.
Kustomize patch files are skipped, as offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.diagnostics import Diagnostic

__all__ = ["server_dry_run", "resource_path"]

_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass",
                   "PriorityClass", "IngressClass"}
_PLURALS = {"NetworkPolicy": "networkpolicies", "Ingress": "ingresses", "IngressClass": "ingressclasses",
            "PriorityClass": "priorityclasses", "StorageClass": "storageclasses"}
FIELD_MANAGER = "llm-mesh-harness-validate"


def resource_path(obj: dict[str, Any], default_namespace: str = "default") -> str:
    """The REST path of an object: /api/v1/... for the core group, /apis/G/V/... otherwise."""
    api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    plural = _PLURALS.get(kind) or (kind.lower() + ("es" if kind.lower().endswith("s") else "s"))
    name = obj["metadata"]["name"]
    if kind in _CLUSTER_SCOPED:
        return f"{prefix}/{plural}/{name}"
    ns = obj["metadata"].get("namespace") or default_namespace
    return f"{prefix}/namespaces/{ns}/{plural}/{name}"


def server_dry_run(paths: list[Path], api_client: Any = None, kubeconfig: str | None = None,
                   context: str | None = None) -> list[Diagnostic]:
    import json

    from kubernetes import client, config

    from harness.validation import collect_files
    from harness.validation.kubernetes import read_manifests

    if api_client is None:
        try:
            config.load_kube_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
        except Exception as exc:  # no kubeconfig, bad context...
            return [Diagnostic("error", "--server-dry-run", f"no usable Kubernetes configuration: {exc}",
                               fix="set KUBECONFIG or pass --context")]
        api_client = client.ApiClient()
    files = [f for p in paths for f in collect_files(p)]
    manifests, _ = read_manifests(files)
    out: list[Diagnostic] = []
    for m in manifests:
        path = resource_path(m.data)
        try:
            method, url, headers, body, post = api_client.param_serialize(
                "PATCH", path, query_params=[("dryRun", "All"), ("fieldManager", FIELD_MANAGER), ("force", "true")],
                header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
                body=m.data, auth_settings=["BearerToken"])
            resp = api_client.call_api(method, url, header_params=headers, body=body, post_params=post)
            resp.read()
            status = resp.status
            payload = resp.data
        except client.ApiException as exc:
            status, payload = exc.status or 0, exc.body
        except Exception as exc:  # connection refused, TLS...
            out.append(Diagnostic("error", m.file, f"the API server is unreachable: {exc}", object=m.ref,
                                  fix="check the cluster address and credentials"))
            break
        if status >= 400:
            try:
                message = json.loads(payload or b"{}").get("message") or f"HTTP {status}"
            except ValueError:
                message = f"HTTP {status}"
            out.append(m.diag("error", f"the API server refused it (dry run): {message}",
                              fix="fix the object; the message is the API server's"))
    return out
