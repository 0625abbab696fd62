"""Host names and namespaces as Istio resolves them.

A short host (`llm-chat`) in an object means the Service of that name in the
object's own namespace; `llm-chat.llm` is read as Kubernetes DNS reads it (the
Service `llm-chat` in `llm`); any other name is taken as written (an external
host, or a fully qualified one). Every cross-reference compares qualified names,
so namespaces take part in all of them.
"""

from __future__ import annotations

__all__ = ["CLUSTER_DOMAIN", "DEFAULT_NAMESPACE", "ROOT_NAMESPACE", "host_matches", "namespace_of_host",
           "qualify", "short_host"]

CLUSTER_DOMAIN = "svc.cluster.local"
# Objects that name no namespace land in the one `kubectl apply` uses by default.
DEFAULT_NAMESPACE = "default"
# Istio's root configuration namespace: a DestinationRule there is the mesh-wide default.
ROOT_NAMESPACE = "istio-system"


def qualify(host: str, namespace: str) -> str:
    """The fully qualified name of `host` written in an object of `namespace`."""
    if host == "*" or "*" in host.split(".", 1)[0]:
        return host  # wildcards are matched, not resolved
    if "." not in host:
        return f"{host}.{namespace}.{CLUSTER_DOMAIN}"
    if host.count(".") == 1:
        return f"{host}.{CLUSTER_DOMAIN}"
    if host.endswith(".svc"):
        return f"{host}.cluster.local"
    return host


def short_host(host: str) -> str:
    """The Service name of a cluster-local host (`llm-chat.llm.svc.cluster.local`
    and `llm-chat.llm` are `llm-chat`); any other host as written."""
    return host.split(".", 1)[0] if host.endswith(f".{CLUSTER_DOMAIN}") or host.count(".") == 1 else host


def namespace_of_host(fqdn: str) -> str | None:
    """The namespace of a qualified cluster-local host, None for an external one."""
    if not fqdn.endswith(f".{CLUSTER_DOMAIN}"):
        return None
    parts = fqdn.split(".")
    return parts[1] if len(parts) == 5 else None


def host_matches(fqdn: str, pattern: str) -> bool:
    """Whether a qualified host is named by a (possibly wildcard) host pattern,
    as a ServiceEntry or DestinationRule host `*.example.com` names `api.example.com`."""
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return fqdn.endswith(pattern[1:])
    return fqdn == pattern
