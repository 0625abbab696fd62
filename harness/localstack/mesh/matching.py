"""Which VirtualService rule a request takes, and which destination of it.

Istio's semantics: `http[]` rules in order, first match wins; the entries of
`match[]` are ORed, the fields inside one entry ANDed; a rule without `match`
matches everything. Regexes are RE2 and must match the whole value. Header
names are lower case; an empty StringMatch tests presence.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import re2

from harness.istio.hosts import short_host
from harness.istio.virtual_service import (
    HTTPMatchRequest,
    HTTPRoute,
    HTTPRouteDestination,
    StringMatch,
    VirtualService,
)

__all__ = ["RequestView", "string_matches", "request_matches", "select_rule", "pick_destination",
           "virtual_service_for"]

_REGEX_CACHE: dict[str, re2._Regexp] = {}


@dataclass(frozen=True)
class RequestView:
    """What matching looks at: method, path (with query), lower-cased headers."""

    method: str
    path: str
    headers: Mapping[str, str]
    authority: str = ""
    scheme: str = "http"
    query: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, method: str, raw_path: str, headers: Mapping[str, str], scheme: str = "http") -> RequestView:
        path, _, qs = raw_path.partition("?")
        lowered = {k.lower(): v for k, v in headers.items()}
        return cls(method=method.upper(), path=path, headers=lowered, authority=lowered.get("host", ""),
                   scheme=scheme, query=dict(parse_qsl(qs, keep_blank_values=True)))


def _regex(pattern: str):  # type: ignore[no-untyped-def]
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        compiled = _REGEX_CACHE[pattern] = re2.compile(pattern)
    return compiled


def string_matches(m: StringMatch, value: str | None, ignore_case: bool = False) -> bool:
    """Does `value` satisfy the StringMatch? `None` means the value is absent."""
    if value is None:
        return False
    if m.exact is not None:
        return value.lower() == m.exact.lower() if ignore_case else value == m.exact
    if m.prefix is not None:
        return value.lower().startswith(m.prefix.lower()) if ignore_case else value.startswith(m.prefix)
    if m.regex is not None:
        return _regex(m.regex).fullmatch(value) is not None
    return True  # `{}`: presence


def request_matches(m: HTTPMatchRequest, req: RequestView) -> bool:
    if m.uri is not None and not string_matches(m.uri, req.path, m.ignoreUriCase):
        return False
    if m.method is not None and not string_matches(m.method, req.method):
        return False
    if m.scheme is not None and not string_matches(m.scheme, req.scheme):
        return False
    if m.authority is not None and not string_matches(m.authority, req.authority):
        return False
    for name, sm in (m.headers or {}).items():
        if not string_matches(sm, req.headers.get(name.lower())):
            return False
    for name, sm in (m.withoutHeaders or {}).items():
        if string_matches(sm, req.headers.get(name.lower())):
            return False
    for name, sm in (m.queryParams or {}).items():
        if not string_matches(sm, req.query.get(name)):
            return False
    return True


def select_rule(vs: VirtualService, req: RequestView) -> tuple[int, HTTPRoute] | None:
    """The first `http[]` rule whose match (any entry of it) the request meets.
    A rule that only delegates is skipped: delegate VirtualServices are not
    merged locally; Istio drops such a rule when its delegate is missing
    (pilot model/virtualservice_controller.go)."""
    for i, rule in enumerate(vs.spec.http or []):
        if rule.delegate is not None:
            continue
        if not rule.match or any(request_matches(m, req) for m in rule.match):
            return i, rule
    return None


def pick_destination(route: list[HTTPRouteDestination], rng: random.Random) -> HTTPRouteDestination:
    """Weights are relative: a destination gets w / sum(w). One destination with
    no weight gets everything."""
    if len(route) == 1:
        return route[0]
    total = sum(d.weight for d in route)
    x = rng.random() * total
    for d in route:
        x -= d.weight
        if x < 0:
            return d
    return route[-1]


def virtual_service_for(services: list[VirtualService], host: str, default_host: str) -> VirtualService | None:
    """The VirtualService for a request's Host; requests to the gateway's own
    address (an IP and port) take the default host's VirtualService."""
    name = short_host(host.rsplit(":", 1)[0]) if host else ""
    for wanted in (name, default_host):
        for vs in services:  # an exact host beats a wildcard, as Envoy's domain matching
            if any(short_host(h) == wanted for h in vs.spec.hosts):
                return vs
    for vs in services:
        if "*" in vs.spec.hosts:
            return vs
    return None
