"""Host names as Istio resolves them: a short name is qualified with the
namespace of the object that uses it."""

from __future__ import annotations

__all__ = ["short_host"]


def short_host(host: str, namespace: str | None = None) -> str:
    """`llm-chat.llm.svc.cluster.local` and `llm-chat.llm` name the Service `llm-chat`."""
    return host.split(".", 1)[0] if host.endswith(".svc.cluster.local") or host.count(".") == 1 else host
