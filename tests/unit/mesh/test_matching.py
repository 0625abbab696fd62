"""VirtualService request matching and weighted destination choice.

Each test names the Istio `networking.istio.io/v1` rule it checks; the code
under test is harness/localstack/mesh/matching.py.
"""

from __future__ import annotations

import random

import pytest

from harness.istio.virtual_service import HTTPMatchRequest, HTTPRouteDestination, StringMatch, VirtualService
from harness.localstack.mesh.matching import (
    RequestView,
    pick_destination,
    request_matches,
    select_rule,
    string_matches,
    virtual_service_for,
)


def vs(name: str, http: list[dict], hosts: list[str] | None = None) -> VirtualService:
    return VirtualService.model_validate({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "llm"},
        "spec": {"hosts": hosts or [name], "http": http},
    })


def rule(name: str, match: list[dict] | None = None, host: str = "llm-chat") -> dict:
    r: dict = {"name": name, "route": [{"destination": {"host": host, "subset": name}}]}
    if match is not None:
        r["match"] = match
    return r


def req(path: str = "/v1/chat/completions", headers: dict[str, str] | None = None,
        method: str = "POST") -> RequestView:
    return RequestView.build(method, path, headers or {})


def chosen(service: VirtualService, request: RequestView) -> str | None:
    hit = select_rule(service, request)
    return None if hit is None else hit[1].name


def sm(**kw: str) -> StringMatch:
    return StringMatch.model_validate(kw)


def match(d: dict) -> HTTPMatchRequest:
    return HTTPMatchRequest.model_validate(d)


# -- rule order ---------------------------------------------------------------

def test_rules_are_evaluated_in_order_and_first_match_wins():
    """Istio: http[] rules are evaluated in order; the first matching rule wins,
    even when a later rule matches more specifically."""
    service = vs("llm-chat", [
        rule("first", [{"uri": {"prefix": "/v1"}}]),
        rule("second", [{"uri": {"exact": "/v1/chat/completions"}}]),
        rule("fallback"),
    ])
    assert select_rule(service, req("/v1/chat/completions"))[0] == 0
    assert chosen(service, req("/v1/chat/completions")) == "first"


def test_later_rule_used_when_earlier_rule_does_not_match():
    """Istio: a rule whose match fails is skipped and evaluation continues."""
    service = vs("llm-chat", [
        rule("premium", [{"headers": {"x-tier": {"exact": "premium"}}}]),
        rule("fallback"),
    ])
    assert chosen(service, req(headers={"x-tier": "standard"})) == "fallback"
    assert select_rule(service, req(headers={"x-tier": "standard"}))[0] == 1


def test_match_entries_are_ored():
    """Istio: the entries of one rule's match[] are ORed."""
    service = vs("llm-chat", [
        rule("either", [{"headers": {"x-a": {"exact": "1"}}}, {"headers": {"x-b": {"exact": "1"}}}]),
        rule("fallback"),
    ])
    assert chosen(service, req(headers={"x-a": "1"})) == "either"
    assert chosen(service, req(headers={"x-b": "1"})) == "either"
    assert chosen(service, req(headers={"x-c": "1"})) == "fallback"


def test_fields_inside_one_match_entry_are_anded():
    """Istio: all conditions inside one HTTPMatchRequest must hold (AND)."""
    service = vs("llm-chat", [
        rule("both", [{"uri": {"prefix": "/v1/chat"}, "headers": {"x-a": {"exact": "1"}}}]),
        rule("fallback"),
    ])
    assert chosen(service, req("/v1/chat/completions", {"x-a": "1"})) == "both"
    assert chosen(service, req("/v1/chat/completions", {"x-a": "2"})) == "fallback"
    assert chosen(service, req("/v1/embeddings", {"x-a": "1"})) == "fallback"


def test_rule_without_match_is_catch_all():
    """Istio: an http[] rule without match matches every request."""
    service = vs("llm-chat", [rule("catch-all")])
    assert chosen(service, req("/anything", {"x": "y"}, method="GET")) == "catch-all"


def test_no_rule_matches_returns_none():
    """Istio: with no matching rule and no catch-all the request has no route (404)."""
    service = vs("llm-chat", [rule("only", [{"uri": {"exact": "/only"}}])])
    assert select_rule(service, req("/other")) is None


# -- StringMatch ----------------------------------------------------------------

def test_header_exact_match():
    """Istio StringMatch.exact: the whole value, case-sensitive."""
    m = match({"headers": {"x-tier": {"exact": "premium"}}})
    assert request_matches(m, req(headers={"x-tier": "premium"}))
    assert not request_matches(m, req(headers={"x-tier": "premium-plus"}))
    assert not request_matches(m, req(headers={"x-tier": "Premium"}))
    assert not request_matches(m, req(headers={}))


def test_header_prefix_match():
    """Istio StringMatch.prefix: the value starts with the prefix."""
    m = match({"headers": {"x-model": {"prefix": "llama-3"}}})
    assert request_matches(m, req(headers={"x-model": "llama-3-70b"}))
    assert not request_matches(m, req(headers={"x-model": "mistral-7b"}))


def test_regex_is_re2_full_match_not_search():
    r"""Istio StringMatch.regex is an RE2 regex that must match the whole value:
    `\d+` does not match `a123`."""
    assert string_matches(sm(regex=r"\d+"), "123")
    assert not string_matches(sm(regex=r"\d+"), "a123")
    assert not string_matches(sm(regex=r"\d+"), "123a")


def test_regex_alternation_is_anchored_as_a_whole():
    """RE2 full match: `us-(east|west)` matches `us-west` but not `us-west-2`
    (the anchoring applies to the whole alternation, not its last branch)."""
    m = sm(regex="us-(east|west)")
    assert string_matches(m, "us-west")
    assert string_matches(m, "us-east")
    assert not string_matches(m, "us-west-2")
    assert not string_matches(m, "xus-east")


def test_regex_header_match_in_request():
    """Header regex matches use the same full-match rule inside a request match."""
    m = match({"headers": {"x-region": {"regex": "us-(east|west)"}}})
    assert request_matches(m, req(headers={"x-region": "us-west"}))
    assert not request_matches(m, req(headers={"x-region": "us-west-2"}))


def test_empty_string_match_tests_presence():
    """Istio: an empty StringMatch `{}` matches when the header is present, any value."""
    m = match({"headers": {"x-debug": {}}})
    assert request_matches(m, req(headers={"x-debug": ""}))
    assert request_matches(m, req(headers={"x-debug": "anything"}))
    assert not request_matches(m, req(headers={}))


def test_without_headers_excludes_matching_requests():
    """Istio withoutHeaders: the request matches only if the header does NOT match."""
    m = match({"withoutHeaders": {"x-canary": {"exact": "true"}}})
    assert not request_matches(m, req(headers={"x-canary": "true"}))
    assert request_matches(m, req(headers={"x-canary": "false"}))
    assert request_matches(m, req(headers={}))


def test_without_headers_presence_excludes_any_value():
    """withoutHeaders with `{}`: any request carrying the header is excluded."""
    m = match({"withoutHeaders": {"x-debug": {}}})
    assert not request_matches(m, req(headers={"x-debug": "1"}))
    assert request_matches(m, req(headers={"x-other": "1"}))


def test_query_params_match():
    """Istio queryParams: matched against the request's query string parameters."""
    m = match({"queryParams": {"stream": {"exact": "true"}}})
    assert request_matches(m, req("/v1/chat/completions?stream=true&x=1"))
    assert not request_matches(m, req("/v1/chat/completions?stream=false"))
    assert not request_matches(m, req("/v1/chat/completions"))


def test_query_string_is_not_part_of_uri_exact_match():
    """The uri match sees the path without the query string."""
    m = match({"uri": {"exact": "/v1/chat/completions"}})
    assert request_matches(m, req("/v1/chat/completions?stream=true"))


def test_uri_prefix_match():
    """Istio uri.prefix: the path starts with the prefix."""
    m = match({"uri": {"prefix": "/v1/chat"}})
    assert request_matches(m, req("/v1/chat/completions"))
    assert not request_matches(m, req("/v1/embeddings"))
    assert not request_matches(m, req("/V1/chat/completions"))


def test_ignore_uri_case_for_exact_and_prefix():
    """Istio ignoreUriCase: exact and prefix uri matches are case-insensitive."""
    exact = match({"uri": {"exact": "/v1/Chat"}, "ignoreUriCase": True})
    prefix = match({"uri": {"prefix": "/V1/CHAT"}, "ignoreUriCase": True})
    assert request_matches(exact, req("/V1/CHAT"))
    assert request_matches(prefix, req("/v1/chat/completions"))
    strict = match({"uri": {"exact": "/v1/Chat"}})
    assert not request_matches(strict, req("/V1/CHAT"))


def test_header_names_are_case_insensitive():
    """HTTP header names are case-insensitive: RequestView.build lower-cases them
    and a match written with upper case still applies."""
    view = RequestView.build("post", "/x", {"X-User-Id": "u1", "Host": "llm-chat"})
    assert view.headers == {"x-user-id": "u1", "host": "llm-chat"}
    assert view.method == "POST"
    assert view.authority == "llm-chat"
    m = match({"headers": {"X-User-Id": {"exact": "u1"}}})
    assert request_matches(m, view)


def test_method_match():
    """Istio method match (exact on the upper-case method)."""
    m = match({"method": {"exact": "GET"}})
    assert request_matches(m, req(method="get"))
    assert not request_matches(m, req(method="POST"))


# -- VirtualService for a Host ---------------------------------------------------

def test_virtual_service_for_uses_short_name_of_fqdn_host_with_port():
    """Istio: a VirtualService host `llm-chat` covers the Service's FQDN; the Host
    header `llm-chat.llm.svc.cluster.local:80` selects it."""
    chat, embed = vs("llm-chat", [rule("a")]), vs("llm-embed", [rule("b")])
    got = virtual_service_for([embed, chat], "llm-chat.llm.svc.cluster.local:80", default_host="llm-embed")
    assert got is chat
    assert virtual_service_for([embed, chat], "llm-chat:8080", default_host="llm-embed") is chat


def test_virtual_service_for_unknown_host_takes_default_hosts_service():
    """Requests to the gateway's own address take the default host's VirtualService."""
    chat, embed = vs("llm-chat", [rule("a")]), vs("llm-embed", [rule("b")])
    assert virtual_service_for([chat, embed], "127.0.0.1:8080", default_host="llm-embed") is embed
    assert virtual_service_for([chat, embed], "", default_host="llm-chat") is chat


def test_virtual_service_for_none_when_nothing_fits():
    """No VirtualService for the Host nor the default host: no route (Istio falls back to the plain Service)."""
    chat = vs("llm-chat", [rule("a")])
    assert virtual_service_for([chat], "other:80", default_host="missing") is None


# -- weights --------------------------------------------------------------------

def dests(*weights: int) -> list[HTTPRouteDestination]:
    return [HTTPRouteDestination.model_validate({"destination": {"host": "llm-chat", "subset": f"v{i + 1}"},
                                                 "weight": w}) for i, w in enumerate(weights)]


def shares(route: list[HTTPRouteDestination], n: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    for _ in range(n):
        s = pick_destination(route, rng).destination.subset
        counts[s] = counts.get(s, 0) + 1
    return {k: v / n for k, v in counts.items()}


def test_weights_are_relative():
    """Istio: a destination gets weight / sum(weights); weights 1 and 3 give 25 % / 75 %."""
    got = shares(dests(1, 3), 20_000, seed=1)
    assert got["v1"] == pytest.approx(0.25, abs=0.02)
    assert got["v2"] == pytest.approx(0.75, abs=0.02)


def test_single_destination_with_weight_zero_gets_everything():
    """Istio: with one destination the weight is implied 100 (0 / unset is fine)."""
    got = shares(dests(0), 1_000, seed=2)
    assert got == {"v1": 1.0}


def test_zero_weight_destination_next_to_weighted_one_gets_nothing():
    """A destination with weight 0 among weighted ones receives no traffic."""
    got = shares(dests(0, 100), 5_000, seed=3)
    assert got == {"v2": 1.0}


def test_eighty_twenty_split_statistically():
    """Istio canary split 80/20: over 20,000 seeded draws v2's share is 0.20 +- 0.02."""
    got = shares(dests(80, 20), 20_000, seed=4)
    assert got["v2"] == pytest.approx(0.20, abs=0.02)
    assert got["v1"] == pytest.approx(0.80, abs=0.02)


def test_virtual_service_for_prefers_exact_host_over_wildcard():
    """Istio/Envoy virtual host selection: an exact domain match wins over the
    wildcard `*`, whatever the order of the VirtualServices."""
    wild, chat = vs("catch-all", [rule("w")], hosts=["*"]), vs("llm-chat", [rule("a")])
    assert virtual_service_for([wild, chat], "llm-chat.llm.svc.cluster.local:80", default_host="llm-embed") is chat


def test_virtual_service_for_wildcard_host_catches_unknown_hosts():
    """Istio: a VirtualService with host `*` applies to hosts no other one names."""
    wild, chat = vs("catch-all", [rule("w")], hosts=["*"]), vs("llm-chat", [rule("a")])
    assert virtual_service_for([chat, wild], "other:80", default_host="missing") is wild
