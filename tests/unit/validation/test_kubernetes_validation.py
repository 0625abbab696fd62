"""`harness validate` on Kubernetes manifests: schemas, cross-references and
Istio pitfalls, each shown failing on a manifest that breaks it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.validation import validate_path

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: chat-v1, namespace: llm}
spec:
  replicas: 2
  selector: {matchLabels: {app: llm-chat, version: v1}}
  template:
    metadata: {labels: {app: llm-chat, version: v1, pool: standard}}
    spec:
      containers:
        - name: vllm
          image: vllm/vllm-openai:v0.11.0
          ports: [{containerPort: 8000, name: http}]
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: llm-chat, namespace: llm}
spec:
  selector: {app: llm-chat}
  ports: [{name: http, port: 8000, targetPort: 8000}]
"""
HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: chat-v1, namespace: llm}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: chat-v1}
  minReplicas: 2
  maxReplicas: 4
  metrics:
    - type: Pods
      pods:
        metric: {name: "vllm:num_requests_waiting"}
        target: {type: AverageValue, averageValue: "5"}
"""
ISTIO = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: llm-chat, namespace: llm}
spec:
  host: llm-chat
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5}
  subsets:
    - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: llm-chat, namespace: llm}
spec:
  hosts: [llm-chat]
  http:
    - name: default
      timeout: 300s
      retries: {attempts: 2, perTryTimeout: 30s}
      route: [{destination: {host: llm-chat, subset: v1}}]
"""


def write(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def lines(tmp_path: Path, severity: str = "error") -> list[str]:
    return [str(d) for d in validate_path(tmp_path).diagnostics if d.severity == severity]


def good(tmp_path: Path, **overrides: str) -> Path:
    files = {"deploy.yaml": DEPLOYMENT, "svc.yaml": SERVICE, "hpa.yaml": HPA, "istio.yaml": ISTIO}
    files.update(overrides)
    return write(tmp_path, **files)


def test_a_consistent_set_is_clean(tmp_path: Path) -> None:
    assert [str(d) for d in validate_path(good(tmp_path)).diagnostics] == []


def test_unknown_field_is_a_schema_error_naming_file_object_and_field(tmp_path: Path) -> None:
    good(tmp_path, **{"deploy.yaml": DEPLOYMENT.replace("  replicas: 2", "  replica: 2")})
    [line] = lines(tmp_path)
    assert "deploy.yaml" in line and "Deployment/chat-v1" in line
    assert "'replica' was unexpected" in line and "fix: remove it or correct its spelling" in line


def test_wrong_type_names_the_field_and_line(tmp_path: Path) -> None:
    good(tmp_path, **{"deploy.yaml": DEPLOYMENT.replace("replicas: 2", "replicas: two")})
    [line] = lines(tmp_path)
    assert "deploy.yaml:5" in line and "spec.replicas" in line and "'two' is not of type" in line


def test_service_selecting_no_pods(tmp_path: Path) -> None:
    good(tmp_path, **{"svc.yaml": SERVICE.replace("app: llm-chat}", "app: llm-chatt}")})
    errors = lines(tmp_path)
    assert any("Service/llm-chat" in e and "matches no Deployment's pods" in e for e in errors)


def test_hpa_targeting_a_missing_deployment(tmp_path: Path) -> None:
    good(tmp_path, **{"hpa.yaml": HPA.replace("name: chat-v1}", "name: chat-v9}")})
    [line] = lines(tmp_path)
    assert "HorizontalPodAutoscaler/chat-v1" in line and "Deployment/chat-v9 does not exist" in line
    assert "spec.scaleTargetRef.name" in line


def test_virtual_service_subset_missing_from_the_destination_rule(tmp_path: Path) -> None:
    good(tmp_path, **{"istio.yaml": ISTIO.replace("subset: v1}", "subset: v3}")})
    errors = lines(tmp_path)
    assert any("VirtualService/llm-chat" in e and "subset 'v3'" in e and "not declared" in e for e in errors)


def test_subset_labels_that_no_pod_carries(tmp_path: Path) -> None:
    good(tmp_path, **{"istio.yaml": ISTIO.replace("labels: {version: v1}", "labels: {version: v7}")})
    errors = lines(tmp_path)
    assert any("DestinationRule/llm-chat" in e and "subset 'v1'" in e and "no Deployment's pods" in e
               for e in errors)


def test_virtual_service_host_that_is_no_service(tmp_path: Path) -> None:
    good(tmp_path, **{"istio.yaml": ISTIO.replace("route: [{destination: {host: llm-chat, subset: v1}}]",
                                                  "route: [{destination: {host: llm-nowhere}}]")})
    assert any("host 'llm-nowhere' is not a Service" in e for e in lines(tmp_path))


def test_timeout_shorter_than_its_retries_is_a_warning(tmp_path: Path) -> None:
    good(tmp_path, **{"istio.yaml": ISTIO.replace("timeout: 300s", "timeout: 60s")})
    warnings = lines(tmp_path, "warning")
    assert any("timeout 60s is shorter than 3 tries x perTryTimeout 30s" in w for w in warnings)
    assert lines(tmp_path) == []


def test_weights_not_adding_to_100_is_a_warning(tmp_path: Path) -> None:
    vs = ISTIO.replace("route: [{destination: {host: llm-chat, subset: v1}}]",
                       "route: [{destination: {host: llm-chat, subset: v1}, weight: 8},"
                       " {destination: {host: llm-chat, subset: v1}, weight: 2}]")
    good(tmp_path, **{"istio.yaml": vs})
    assert any("weights sum to 10" in w for w in lines(tmp_path, "warning"))


def test_locality_failover_without_outlier_detection_is_a_warning(tmp_path: Path) -> None:
    dr = ISTIO.replace("    outlierDetection: {consecutive5xxErrors: 5}",
                       "    loadBalancer:\n      localityLbSetting:\n        failover: [{from: us-east, to: us-west}]")
    good(tmp_path, **{"istio.yaml": dr})
    assert any("outlier detection policy must be provided for failover" in w for w in lines(tmp_path, "warning"))


PDB = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: chat-v1, namespace: llm}
spec:
  minAvailable: 1
  selector:
    matchLabels: {app: APP}
"""


def test_pdb_selecting_nothing(tmp_path: Path) -> None:
    good(tmp_path, **{"pdb.yaml": PDB.replace("APP", "llm-chatt")})
    assert any("PodDisruptionBudget/chat-v1" in e and "matches no Deployment's pods" in e for e in lines(tmp_path))


def test_pdb_match_expressions_are_honoured(tmp_path: Path) -> None:
    pdb = PDB.replace("APP", "llm-chat") + "    matchExpressions: [{key: version, operator: In, values: [VERSIONS]}]\n"
    good(tmp_path, **{"pdb.yaml": pdb.replace("VERSIONS", "v1, v2")})
    assert lines(tmp_path) == []
    good(tmp_path, **{"pdb.yaml": pdb.replace("VERSIONS", "v3")})
    assert any("PodDisruptionBudget/chat-v1" in e and "version in (v3)" in e for e in lines(tmp_path))


def test_overlay_labels_count_for_subsets(tmp_path: Path) -> None:
    dr = ISTIO.replace("- {name: v1, labels: {version: v1}}",
                       "- {name: v1, labels: {version: v1}}\n    - {name: us-east, labels: {region: us-east}}")
    good(tmp_path, **{"istio.yaml": dr})
    assert any("subset 'us-east'" in e for e in lines(tmp_path))
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "kustomization.yaml").write_text("bases: [..]\ncommonLabels: {region: us-east}\n")
    assert lines(tmp_path) == []


def test_kustomize_patch_files_are_not_schema_checked(tmp_path: Path) -> None:
    good(tmp_path)
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "kustomization.yaml").write_text("bases: [..]\npatchesStrategicMerge: [replicas.yaml]\n")
    (tmp_path / "overlay" / "replicas.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: chat-v1}\nspec: {replicas: 1}\n")
    assert lines(tmp_path) == []


@pytest.mark.parametrize("bad, expected", [
    (DEPLOYMENT.replace("kind: Deployment", "kind: Deploymint"), "no schema for apps/v1 Deploymint"),
])
def test_unknown_kind_is_reported(tmp_path: Path, bad: str, expected: str) -> None:
    good(tmp_path, **{"deploy.yaml": bad})
    assert any(expected in d for d in [str(x) for x in validate_path(tmp_path).diagnostics])


def test_the_harness_own_kinds_are_left_to_their_validators(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[3] / "reference-stack"
    good(tmp_path, **{"slo.yaml": (repo / "slo" / "reference.yaml").read_text(),
                      "topology.yaml": (repo / "local" / "topology.yaml").read_text()})
    assert [str(d) for d in validate_path(tmp_path).diagnostics] == []
