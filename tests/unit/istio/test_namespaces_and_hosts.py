"""Namespaces and hosts in every cross-reference, as Istio resolves them: which
DestinationRule applies to a route, which hosts a route may name.

Code under test: harness/istio/hosts.py, lint.py (applicable_destination_rules,
the destination checks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.istio.hosts import host_matches, namespace_of_host, qualify, short_host
from harness.istio.loading import mesh_diagnostics
from harness.istio.registry import ServiceRegistry


def route_to(subset: str | None, namespace: str = "llm", host: str = "chat") -> str:
    dest = f"{{host: {host}" + (f", subset: {subset}}}" if subset else "}")
    return (f"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: chat, namespace: "
            f"{namespace}}}\nspec:\n  hosts: [chat]\n  http:\n  - route:\n    - destination: {dest}\n---\n")


def rule_for(host: str, namespace: str, *subsets: str, name: str = "chat") -> str:
    declared = ", ".join(f"{{name: {s}, labels: {{version: {s}}}}}" for s in subsets)
    return (f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: {name}, namespace: "
            f"{namespace}}}\nspec:\n  host: {host}\n  subsets: [{declared}]\n---\n")


def service_entry(*hosts: str, namespace: str = "llm") -> str:
    return (f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: external, namespace: "
            f"{namespace}}}\nspec:\n  hosts: [{', '.join(hosts)}]\n  location: MESH_EXTERNAL\n"
            "  resolution: DNS\n  ports: [{number: 443, name: https, protocol: TLS}]\n---\n")


def findings(tmp_path: Path, text: str, registry: ServiceRegistry | None = None) -> list[str]:
    (tmp_path / "istio.yaml").write_text(text)
    _, diags = mesh_diagnostics([tmp_path], registry)
    return [f"{d.rule}: {d.message}" for d in diags]


@pytest.mark.parametrize("host, namespace, fqdn", [
    ("chat", "llm", "chat.llm.svc.cluster.local"),
    ("chat.llm", "other", "chat.llm.svc.cluster.local"),
    ("chat.llm.svc", "other", "chat.llm.svc.cluster.local"),
    ("chat.llm.svc.cluster.local", "other", "chat.llm.svc.cluster.local"),
    ("api.openai.com", "llm", "api.openai.com"),
    ("*.openai.com", "llm", "*.openai.com"),
])
def test_qualify(host: str, namespace: str, fqdn: str) -> None:
    assert qualify(host, namespace) == fqdn


def test_short_host_namespace_and_wildcards() -> None:
    assert short_host("chat.llm.svc.cluster.local") == short_host("chat.llm") == "chat"
    assert short_host("api.openai.com") == "api.openai.com"
    assert namespace_of_host("chat.llm.svc.cluster.local") == "llm"
    assert namespace_of_host("api.openai.com") is None
    assert host_matches("api.openai.com", "*.openai.com") and not host_matches("openai.com", "*.openai.com")


def test_a_subset_declared_only_in_an_unrelated_namespace_is_undeclared(tmp_path: Path) -> None:
    out = findings(tmp_path, route_to("v1") + rule_for("chat.llm.svc.cluster.local", "other", "v1"))
    assert len(out) == 1 and out[0].startswith("undeclared-subset: subset 'v1'"), out


def test_the_root_namespace_rule_is_the_mesh_wide_default(tmp_path: Path) -> None:
    assert findings(tmp_path, route_to("v1") + rule_for("chat.llm.svc.cluster.local", "istio-system", "v1")) == []


def test_the_hosts_namespace_rule_applies_to_routes_from_other_namespaces(tmp_path: Path) -> None:
    text = route_to("v1", namespace="web", host="chat.llm") + rule_for("chat", "llm", "v1")
    assert findings(tmp_path, text) == []


def test_the_route_namespace_rule_shadows_the_hosts_namespace_rule(tmp_path: Path) -> None:
    # Istio picks the client namespace's rule first: its subsets are the only ones there.
    text = (route_to("v1", namespace="web", host="chat.llm") + rule_for("chat", "llm", "v1")
            + rule_for("chat.llm.svc.cluster.local", "web", "v2", name="chat-web"))
    out = findings(tmp_path, text)
    assert len(out) == 1 and "subset 'v1'" in out[0] and "DestinationRule chat-web" in out[0], out


def test_rules_for_one_host_in_different_namespaces_do_not_conflict(tmp_path: Path) -> None:
    text = rule_for("chat.llm.svc.cluster.local", "llm", "v1") + \
        rule_for("chat.llm.svc.cluster.local", "istio-system", "v1")
    assert findings(tmp_path, text) == []


def test_a_short_host_means_the_objects_own_namespace(tmp_path: Path) -> None:
    # `chat` in namespace web is chat.web, not the Service chat.llm the registry knows.
    registry = ServiceRegistry.of({("llm", "chat"): {"app": "chat"}}, origin="the topology")
    out = findings(tmp_path, route_to(None, namespace="web"), registry)
    assert out == ["unknown-host: host 'chat' is not a Service of the topology nor a ServiceEntry host "
                   "(chat.web.svc.cluster.local)"]
    assert findings(tmp_path, route_to(None, namespace="web", host="chat.llm"), registry) == []


@pytest.mark.parametrize("declared", ["api.openai.com", "'*.openai.com'"])
def test_a_service_entry_host_is_a_valid_destination(tmp_path: Path, declared: str) -> None:
    registry = ServiceRegistry.of({("llm", "chat"): {"app": "chat"}})
    text = route_to(None, host="api.openai.com")
    assert [f for f in findings(tmp_path, text, registry) if f.startswith("unknown-host")]
    # Valid on a cluster; only the local stack cannot reach it, which is a warning.
    assert findings(tmp_path, text + service_entry(declared), registry) == [
        "not-emulated: ServiceEntry hosts are valid destinations, but the local proxy reaches no external host: "
        "routes to them answer 503 there"]


def test_a_service_entry_is_validated_field_by_field(tmp_path: Path) -> None:
    out = findings(tmp_path, service_entry("api.openai.com").replace("resolution: DNS", "resolution: DSN"))
    assert len(out) == 1 and out[0].startswith("schema: "), out
    assert findings(tmp_path, service_entry("api.openai.com"))[0].startswith("not-emulated: ")
