"""Every Istio rule, shown firing on a config that breaks it and silent on the
same config fixed; the catalogue, its docs table and these cases agree.

Code under test: harness/istio (rules, loading, lint).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.istio.loading import mesh_diagnostics
from harness.istio.registry import ServiceRegistry
from harness.istio.rules import RULES

DOCS = Path(__file__).resolve().parents[3] / "docs" / "istio-rules.md"


def obj(kind: str, name: str, spec: str, namespace: str | None = "llm",
        api: str = "networking.istio.io/v1") -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return (f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}{ns}\nspec:\n"
            + textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ") + "\n---\n")


def vs(spec: str, name: str = "chat", namespace: str | None = "llm", api: str = "networking.istio.io/v1") -> str:
    return obj("VirtualService", name, spec, namespace, api)


def dr(spec: str, name: str = "chat", namespace: str | None = "llm") -> str:
    return obj("DestinationRule", name, spec, namespace)


def route(dest: str = "{host: chat}", extra: str = "") -> str:
    return f"hosts: [chat]\nhttp:\n- route:\n  - destination: {dest}\n" + textwrap.indent(extra, "  ")


DR_V1 = dr("host: chat\nsubsets:\n- {name: v1, labels: {version: v1}}")
REGISTRY = ServiceRegistry.of({("llm", "chat"): {"app": "chat"}}, [{"app": "chat", "version": "v1"}],
                              origin="the topology")


@dataclass
class Case:
    bad: str
    good: str
    registry: ServiceRegistry | None = None
    files: dict[str, str] = field(default_factory=dict)  # extra files, same in both


CASES: dict[str, Case] = {
    "yaml-syntax": Case("apiVersion: networking.istio.io/v1\nkind: [VirtualService\n", vs(route())),
    "unknown-api-version": Case(vs(route(), api="networking.istio.io/v2"), vs(route())),
    "schema": Case(vs(route(extra="retries: {attempts: 2, perTryTimout: 1s}\n")),
                   vs(route(extra="retries: {attempts: 2, perTryTimeout: 1s}\n"))),
    "duplicate-name": Case(vs(route()) + vs(route()), vs(route()) + vs(route(), name="chat-2")),
    "kind-not-emulated": Case(obj("Sidecar", "default", "egress: [{hosts: ['./*']}]"), vs(route())),
    "deprecated-api-version": Case(vs(route(), api="networking.istio.io/v1beta1"), vs(route())),
    "deprecated-field": Case(vs(route(extra="mirror: {host: chat}\nmirrorPercent: 5\n")),
                             vs(route(extra="mirror: {host: chat}\nmirrorPercentage: {value: 5}\n"))),
    "not-emulated": Case(vs(route(extra="corsPolicy: {allowOrigins: [{exact: x}]}\n")), vs(route())),
    "failover-without-outlier-detection": Case(
        dr("host: chat\ntrafficPolicy:\n  loadBalancer:\n    localityLbSetting:\n"
           "      failover: [{from: us-east, to: us-west}]"),
        dr("host: chat\ntrafficPolicy:\n  outlierDetection: {consecutive5xxErrors: 3}\n  loadBalancer:\n"
           "    localityLbSetting:\n      failover: [{from: us-east, to: us-west}]")),
    "route-weights-not-100": Case(
        vs("hosts: [chat]\nhttp:\n- route:\n  - {destination: {host: chat}, weight: 8}\n"
           "  - {destination: {host: chat}, weight: 2}"),
        vs("hosts: [chat]\nhttp:\n- route:\n  - {destination: {host: chat}, weight: 80}\n"
           "  - {destination: {host: chat}, weight: 20}")),
    "timeout-shorter-than-retries": Case(vs(route(extra="timeout: 60s\nretries: {attempts: 2, perTryTimeout: 30s}\n")),
                                         vs(route(extra="timeout: 90s\nretries: {attempts: 2, perTryTimeout: 30s}\n"))),
    "destination-rule-conflict": Case(DR_V1 + dr("host: chat.llm.svc.cluster.local", name="chat-2"),
                                      DR_V1 + dr("host: chat.llm.svc.cluster.local", name="chat-2",
                                                 namespace="other")),
    "unknown-host": Case(vs(route("{host: nowhere}")), vs(route("{host: chat}")), REGISTRY),
    "undeclared-subset": Case(vs(route("{host: chat, subset: v2}")), vs(route("{host: chat, subset: v1}")),
                              files={"dr.yaml": DR_V1}),
    "subset-selects-no-pods": Case(dr("host: chat\nsubsets:\n- {name: v1, labels: {version: v9}}"), DR_V1,
                                   REGISTRY),
}


def rule_ids(tmp_path: Path, text: str, case: Case) -> list[str]:
    for name, extra in {**case.files, "case.yaml": text}.items():
        (tmp_path / name).write_text(extra)
    _, diags = mesh_diagnostics([tmp_path], case.registry)
    return [str(d.rule) for d in diags]


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_on_the_bad_config_and_not_on_the_fixed_one(tmp_path: Path, rule_id: str) -> None:
    case = CASES[rule_id]
    (tmp_path / "bad").mkdir()
    (tmp_path / "good").mkdir()
    fired = rule_ids(tmp_path / "bad", case.bad, case)
    assert fired.count(rule_id) == 1, fired
    assert rule_ids(tmp_path / "good", case.good, case) == []


def test_every_rule_has_a_case() -> None:
    assert sorted(CASES) == sorted(RULES)


def test_each_rule_reports_with_its_own_severity(tmp_path: Path) -> None:
    _, diags = mesh_diagnostics([_write(tmp_path, CASES["undeclared-subset"].bad + DR_V1)])
    [d] = [d for d in diags if d.rule == "undeclared-subset"]
    assert d.severity == RULES["undeclared-subset"].severity == "error"
    assert str(d).endswith("(rule: undeclared-subset)")


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "istio.yaml").write_text(text)
    return tmp_path


def test_docs_table_lists_every_rule_with_its_severity() -> None:
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (error|warning) \|", DOCS.read_text(), re.M)
    assert sorted(rows) == sorted((r.id, r.severity) for r in RULES.values())
