"""Envoy's local replies: answers the gateway gives itself, without an
upstream (no route, no healthy host, timeouts, overflow, fault aborts, and
the `redirect` / `directResponse` route actions). Pure."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from harness.istio.virtual_service import HTTPDirectResponse, HTTPRedirect
from harness.localstack.mesh.retry import Failure

__all__ = ["LocalReply", "NO_ROUTE", "NO_HEALTHY", "NO_CLUSTER", "TIMEOUT", "OVERFLOW", "CONNECT_FAILURE",
           "fault_abort", "redirect_reply", "direct_reply", "upstream_failure", "join_flags", "SidecarReply",
           "sidecar_reply"]

CONNECT_FAILURE = "upstream connect error or disconnect/reset before headers. {retried}reset reason: {reason}"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# the order in which Envoy prints response flags (stream_info utility.h ALL_RESPONSE_STRINGS_FLAGS)
_FLAG_ORDER = {f: i for i, f in enumerate(
    ("LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC", "URX", "SI",
     "IH", "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR"))}


@dataclass(frozen=True)
class LocalReply:
    status: int
    body: bytes
    flags: str  # Envoy's response flags ("" is "-")
    headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def text(cls, status: int, body: str, flags: str, *headers: tuple[str, str]) -> LocalReply:
        return cls(status, body.encode(), flags, (("content-type", "text/plain"), *headers))


NO_ROUTE = LocalReply(404, b"", "NR")
NO_HEALTHY = LocalReply.text(503, "no healthy upstream", "UH")
NO_CLUSTER = LocalReply.text(503, "no healthy upstream", "NC")
TIMEOUT = LocalReply.text(504, "upstream request timeout", "UT")
OVERFLOW = LocalReply.text(503, CONNECT_FAILURE.format(retried="", reason="overflow"), "UO",
                           ("x-envoy-overloaded", "true"))


def join_flags(*flags: str) -> str:
    """Envoy's response-flags string: every flag set, comma-separated, in
    Envoy's fixed order ("" when none)."""
    parts = {p for f in flags if f for p in f.split(",")}
    return ",".join(sorted(parts, key=lambda p: _FLAG_ORDER.get(p, len(_FLAG_ORDER))))


def fault_abort(status: int) -> LocalReply:
    return LocalReply.text(status, "fault filter abort", "FI")


def redirect_reply(redirect: HTTPRedirect, host: str, path_qs: str, listener_port: int) -> LocalReply:
    """Envoy's RedirectAction as pilot's ApplyRedirect configures it: the
    scheme, host, port and path swapped where set; the query kept unless the
    new path carries one; 301 unless `redirectCode` says otherwise."""
    scheme = redirect.scheme or "http"
    request_host, _, request_port = host.rpartition(":") if ":" in host else (host, "", "")
    new_host = redirect.authority or request_host
    port: int | None = None
    if redirect.port is not None:
        port = redirect.port
    elif redirect.derivePort == "FROM_REQUEST_PORT":
        port = listener_port
    elif not redirect.authority and not redirect.scheme and request_port:
        port = int(request_port)  # nothing about the authority changes: the request's port stays
    if port == _DEFAULT_PORTS.get(scheme):
        port = None  # pilot drops an explicit :80 for http and :443 for https
    path, _, query = path_qs.partition("?")
    if redirect.uri:
        path, has_query, new_query = redirect.uri.partition("?")
        if has_query:
            query = new_query
    location = f"{scheme}://{new_host}{f':{port}' if port else ''}{path}{f'?{query}' if query else ''}"
    return LocalReply(redirect.redirectCode or 301, b"", "", (("location", location),))


def direct_reply(response: HTTPDirectResponse) -> LocalReply:
    """Envoy's DirectResponseAction: the status and the inline body (Envoy
    sends a body as text/plain)."""
    body = response.body
    if body is None or (body.string is None and body.bytes_ is None):
        return LocalReply(response.status, b"", "")
    data = body.string.encode() if body.string is not None else base64.b64decode(body.bytes_ or "")
    return LocalReply(response.status, data, "", (("content-type", "text/plain"),))


class SidecarReply(LocalReply):
    """A reply made by the upstream pod's sidecar, which the gateway receives
    as an ordinary upstream response."""


def sidecar_reply(failure: Failure) -> SidecarReply:
    """What a pod's sidecar answers when its application refused the connection
    or reset it before a response head: its Envoy's 503 local reply (the
    sidecar reports the UF / UC; the gateway sees a plain 503)."""
    reason = "connection failure" if failure is Failure.CONNECT else "connection termination"
    return SidecarReply(503, CONNECT_FAILURE.format(retried="", reason=reason).encode(), "",
                        (("content-type", "text/plain"),))


def upstream_failure(failure: Failure, retried: bool) -> LocalReply:
    """The reply when the last attempt ended without a response head."""
    if failure is Failure.PER_TRY_TIMEOUT:
        return TIMEOUT
    reason = "connection failure" if failure is Failure.CONNECT else "connection termination"
    # Envoy's router keeps the last reset's flag and adds URX when retries ran out
    flags = join_flags("UF" if failure is Failure.CONNECT else "UC", "URX" if retried else "")
    return LocalReply.text(503, CONNECT_FAILURE.format(retried="retried and the latest " if retried else "",
                                                        reason=reason), flags)
