"""Validation of Istio VirtualService / DestinationRule YAML: one precise
diagnostic per problem (file, line, object, field, message, fix).

Code under test: harness/istio/loading.py and lint.py (mesh_diagnostics,
load_mesh_config).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.diagnostics import ConfigError, Diagnostic
from harness.istio.loading import load_mesh_config, mesh_diagnostics

REFERENCE = Path(__file__).resolve().parents[3] / "reference-stack" / "istio"

VS_HEAD = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: llm-chat
  namespace: llm
spec:
  hosts: [llm-chat]
  http:
"""

DR_HEAD = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: llm-chat
  namespace: llm
spec:
  host: llm-chat
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def vs_yaml(rules: str, head: str = VS_HEAD) -> str:
    """A VirtualService whose http[] list is `rules` (dedented, then indented under http:)."""
    return head + textwrap.indent(textwrap.dedent(rules), "    ")


def dr_yaml(spec: str) -> str:
    """A DestinationRule with `spec` (dedented) added under spec: after host."""
    return DR_HEAD + textwrap.indent(textwrap.dedent(spec), "  ")


def diagnose(tmp_path: Path) -> tuple[list[Diagnostic], list[Diagnostic]]:
    _, diags = mesh_diagnostics([tmp_path])
    return [d for d in diags if d.severity == "error"], [d for d in diags if d.severity == "warning"]


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def only(diags: list[Diagnostic]) -> Diagnostic:
    assert len(diags) == 1, [str(d) for d in diags]
    return diags[0]


# -- errors with a fix -------------------------------------------------------------------

def test_match_nested_under_route_is_an_error_naming_file_object_field_and_fix(tmp_path):
    """Istio: `match` belongs to the http[] rule, not to route[] destinations; strict
    validation rejects the unknown field (without it the match is silently dropped)."""
    f = write(tmp_path, "vs.yaml", vs_yaml("""\
        - route:
            - destination: {host: llm-chat, subset: v2}
              match:
                - headers: {x-canary: {exact: "true"}}
        - route:
            - destination: {host: llm-chat, subset: v1}
    """))
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    text = str(d)
    assert text.startswith(f"error: {f}:{line_of(f, 'match:')}: ")
    assert "VirtualService/llm-chat" in text
    assert "spec.http[0].route[0].match" in text
    assert "unknown field" in text
    assert d.fix is not None and "move 'match' up to the http[] rule" in d.fix
    assert f"(fix: {d.fix})" in text


def test_weight_on_destination_rule_subset_is_an_error_pointing_to_vs_weights(tmp_path):
    """Istio: DestinationRule subsets have no weight; traffic weights live on the
    VirtualService's http[].route[].weight."""
    f = write(tmp_path, "dr.yaml", dr_yaml("""\
      subsets:
        - name: v1
          labels: {version: v1}
          weight: 80
    """))
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    assert d.object == "DestinationRule/llm-chat"
    assert d.field == "spec.subsets[0].weight"
    assert d.line == line_of(f, "weight: 80")
    assert "unknown field" in d.message
    assert "VirtualService" in d.fix and "route[].weight" in d.fix


def test_load_mesh_config_raises_config_error_with_diagnostics(tmp_path):
    """load_mesh_config refuses invalid config with every error attached."""
    write(tmp_path, "dr.yaml", dr_yaml("""\
      subsets:
        - name: v1
          weight: 80
        - name: v2
          weight: 20
    """))
    with pytest.raises(ConfigError) as exc:
        load_mesh_config([tmp_path])
    assert len(exc.value.diagnostics) == 2
    assert all(d.severity == "error" and d.field.endswith(".weight") for d in exc.value.diagnostics)
    assert "spec.subsets[1].weight" in str(exc.value)


def test_load_mesh_config_with_no_yaml_is_an_error(tmp_path):
    """A directory without YAML is a user error, not an empty mesh."""
    with pytest.raises(ConfigError) as exc:
        load_mesh_config([tmp_path])
    assert "no YAML files found" in str(exc.value)


# -- deprecations are warnings naming the modern form ----------------------------------------

def _warning_only(tmp_path: Path) -> Diagnostic:
    config = load_mesh_config([tmp_path])  # warnings do not make the config invalid
    errors, warnings = diagnose(tmp_path)
    assert errors == []
    assert config.warnings == warnings
    return only(warnings)


def test_consecutive_errors_is_a_deprecation_warning(tmp_path):
    """Istio: outlierDetection.consecutiveErrors is deprecated (ignored); use
    consecutive5xxErrors / consecutiveGatewayErrors."""
    f = write(tmp_path, "dr.yaml", dr_yaml("""\
      trafficPolicy:
        outlierDetection:
          consecutiveErrors: 5
    """))
    w = _warning_only(tmp_path)
    assert w.field == "spec.trafficPolicy.outlierDetection.consecutiveErrors"
    assert w.line == line_of(f, "consecutiveErrors")
    assert "consecutive5xxErrors" in w.fix


def test_least_conn_is_a_deprecation_warning(tmp_path):
    """Istio: loadBalancer.simple LEAST_CONN is deprecated in favour of LEAST_REQUEST."""
    write(tmp_path, "dr.yaml", dr_yaml("""\
      trafficPolicy:
        loadBalancer:
          simple: LEAST_CONN
    """))
    w = _warning_only(tmp_path)
    assert w.field == "spec.trafficPolicy.loadBalancer.simple"
    assert "LEAST_REQUEST" in w.fix


def test_v1alpha3_api_version_is_a_deprecation_warning(tmp_path):
    """networking.istio.io/v1alpha3 still works but v1 is the current API."""
    write(tmp_path, "vs.yaml", vs_yaml(head=VS_HEAD.replace("networking.istio.io/v1", "networking.istio.io/v1alpha3"), rules="""\
        - route:
            - destination: {host: llm-chat}
    """))
    w = _warning_only(tmp_path)
    assert w.field == "apiVersion" and w.line == 1
    assert "networking.istio.io/v1" in w.fix and "v1alpha3" not in w.fix


def test_mirror_percent_is_a_deprecation_warning(tmp_path):
    """Istio: mirrorPercent (int) is deprecated; use mirrorPercentage {value: ...}."""
    write(tmp_path, "vs.yaml", vs_yaml("""\
        - route:
            - destination: {host: llm-chat}
          mirror: {host: llm-chat}
          mirrorPercent: 10
    """))
    w = _warning_only(tmp_path)
    assert w.field == "spec.http[0].mirrorPercent"
    assert "mirrorPercentage" in w.fix


def test_failover_without_outlier_detection_is_a_warning(tmp_path):
    """Istio: locality failover needs outlierDetection; without it Istio warns and
    does not apply failover."""
    write(tmp_path, "dr.yaml", dr_yaml("""\
      trafficPolicy:
        loadBalancer:
          localityLbSetting:
            failover:
              - {from: us-east, to: us-west}
    """))
    w = _warning_only(tmp_path)
    assert w.field == "spec.trafficPolicy.loadBalancer.localityLbSetting"
    assert "outlierDetection" in w.fix


def test_failover_with_outlier_detection_has_no_warning(tmp_path):
    """Istio: failover together with outlierDetection is the supported, warning-free form."""
    write(tmp_path, "dr.yaml", dr_yaml("""\
      trafficPolicy:
        loadBalancer:
          localityLbSetting:
            failover:
              - {from: us-east, to: us-west}
        outlierDetection:
          consecutive5xxErrors: 5
    """))
    assert diagnose(tmp_path) == ([], [])


# -- value errors --------------------------------------------------------------------------

def test_invalid_re2_regex_is_an_error(tmp_path):
    """Istio validates StringMatch.regex as RE2 (e.g. an unbalanced parenthesis)."""
    f = write(tmp_path, "vs.yaml", vs_yaml("""\
        - match:
            - headers:
                x-region: {regex: "us-(east"}
          route:
            - destination: {host: llm-chat}
    """))
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    assert d.field == "spec.http[0].match[0].headers.x-region"
    assert "RE2" in d.message
    assert d.line == line_of(f, "x-region")


def test_re2_rejects_perl_only_syntax(tmp_path):
    """RE2 has no lookahead; a PCRE-only regex is invalid in Istio."""
    write(tmp_path, "vs.yaml", vs_yaml("""\
        - match:
            - uri: {regex: "/v1/(?!admin).*"}
          route:
            - destination: {host: llm-chat}
    """))
    errors, _ = diagnose(tmp_path)
    assert only(errors).field == "spec.http[0].match[0].uri"


def test_negative_weight_is_an_error(tmp_path):
    """Istio: route destination weights are non-negative."""
    f = write(tmp_path, "vs.yaml", vs_yaml("""\
        - route:
            - destination: {host: llm-chat, subset: v1}
              weight: -10
            - destination: {host: llm-chat, subset: v2}
              weight: 110
    """))
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    assert d.field == "spec.http[0].route[0].weight"
    assert d.line == line_of(f, "weight: -10")


def test_weights_summing_to_zero_over_several_destinations_is_an_error(tmp_path):
    """Several destinations with no (zero) weights would get no traffic at all."""
    write(tmp_path, "vs.yaml", vs_yaml("""\
        - route:
            - destination: {host: llm-chat, subset: v1}
            - destination: {host: llm-chat, subset: v2}
              weight: 0
    """))
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    assert d.field == "spec.http[0]"
    assert "sum to 0" in d.message


def test_single_destination_without_weight_is_valid(tmp_path):
    """Istio: a single destination needs no weight (it gets 100 %)."""
    write(tmp_path, "vs.yaml", vs_yaml("""\
        - route:
            - destination: {host: llm-chat}
    """))
    assert diagnose(tmp_path) == ([], [])


@pytest.mark.parametrize("value", ["10", "10 seconds", "'10 seconds'", "ten"])
def test_bad_duration_is_an_error(tmp_path, value):
    """Istio durations are strings with a unit ('10s', '250ms'); a bare number or
    `10 seconds` is rejected."""
    f = write(tmp_path, "vs.yaml", vs_yaml(f"""\
        - route:
            - destination: {{host: llm-chat}}
          timeout: {value}
    """))
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    assert d.field == "spec.http[0].timeout"
    assert d.line == line_of(f, "timeout:")


def test_numeric_duration_error_explains_the_unit(tmp_path):
    """The error for `timeout: 10` should tell the user to add a unit, as
    _check_duration's message intends ("a duration is a string with a unit, e.g. '10s'")."""
    write(tmp_path, "vs.yaml", vs_yaml("""\
        - route:
            - destination: {host: llm-chat}
          timeout: 10
    """))
    errors, _ = diagnose(tmp_path)
    assert "'10s'" in only(errors).message


def test_good_durations_are_accepted(tmp_path):
    """Go-style durations with units (1m30s, 250ms, 0.5s) are valid."""
    write(tmp_path, "vs.yaml", vs_yaml("""\
        - route:
            - destination: {host: llm-chat}
          timeout: 1m30s
          retries: {attempts: 2, perTryTimeout: 250ms, backoff: 0.5s}
    """))
    assert diagnose(tmp_path) == ([], [])


def test_duplicate_virtual_service_names_across_files_are_an_error(tmp_path):
    body = vs_yaml("""\
        - route:
            - destination: {host: llm-chat}
    """)
    write(tmp_path, "a.yaml", body)
    b = write(tmp_path, "b.yaml", body)
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    assert d.file == str(b)
    assert "duplicate VirtualService name 'llm-chat'" in d.message
    assert str(tmp_path / "a.yaml") in d.message
    assert d.line == line_of(b, "name: llm-chat")


def test_same_name_in_different_namespaces_is_not_a_duplicate(tmp_path):
    """Kubernetes object identity is (namespace, kind, name): llm/llm-chat and
    staging/llm-chat are different VirtualServices."""
    body = vs_yaml("""\
        - route:
            - destination: {host: llm-chat}
    """)
    write(tmp_path, "a.yaml", body)
    write(tmp_path, "b.yaml", body.replace("namespace: llm", "namespace: staging"))
    errors, _ = diagnose(tmp_path)
    assert errors == []


def test_distribute_together_with_failover_is_an_error(tmp_path):
    """Istio: only one of distribute, failover (or failoverPriority without failover) may be set."""
    f = write(tmp_path, "dr.yaml", dr_yaml("""\
      trafficPolicy:
        outlierDetection: {consecutive5xxErrors: 5}
        loadBalancer:
          localityLbSetting:
            distribute:
              - from: us-east/*
                to: {"us-east/*": 80, "us-west/*": 20}
            failover:
              - {from: us-east, to: us-west}
    """))
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    assert d.field == "spec.trafficPolicy.loadBalancer.localityLbSetting"
    assert "distribute and failover" in d.message
    assert d.line == line_of(f, "localityLbSetting:")


def test_failover_from_a_region_to_itself_is_an_error(tmp_path):
    """Istio validation: failover from and to must be different regions."""
    write(tmp_path, "dr.yaml", dr_yaml("""\
      trafficPolicy:
        outlierDetection: {consecutive5xxErrors: 5}
        loadBalancer:
          localityLbSetting:
            failover:
              - from: us-east
                to: us-east
    """))
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    assert d.field == "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0]"
    assert "to itself" in d.message


def test_errors_carry_line_numbers_in_later_documents_of_a_file(tmp_path):
    """Line numbers count from the top of the file, also for the second and later
    documents of a multi-document YAML file."""
    f = write(tmp_path, "all.yaml", textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: llm-chat}
        spec: {replicas: 1}
        ---
    """) + vs_yaml("""\
        - route:
            - destination: {host: llm-chat}
              weight: 100
              subset: v1
    """))
    errors, _ = diagnose(tmp_path)
    d = only(errors)
    assert d.field == "spec.http[0].route[0].subset"
    assert d.line == line_of(f, "subset: v1") > 10


def test_non_istio_documents_are_ignored(tmp_path):
    """Kubernetes Deployments/Services sharing the directory are not validated as Istio."""
    write(tmp_path, "deploy.yaml", textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: llm-chat}
        spec: {whatever: [1, 2], match: {not: istio}}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: llm-chat}
        spec: {ports: [{port: 80}]}
    """))
    write(tmp_path, "vs.yaml", vs_yaml("""\
        - route:
            - destination: {host: llm-chat}
    """))
    config = load_mesh_config([tmp_path])
    assert [v.metadata.name for v in config.virtual_services] == ["llm-chat"]
    assert diagnose(tmp_path) == ([], [])


def test_reference_config_loads_without_errors_or_warnings():
    """The shipped reference-stack/istio config is clean: 0 errors, 0 warnings."""
    assert REFERENCE.is_dir()
    config, diags = mesh_diagnostics([REFERENCE])
    assert [str(d) for d in diags] == []
    assert config.virtual_services and config.destination_rules
    loaded = load_mesh_config([REFERENCE])
    assert loaded.warnings == []
