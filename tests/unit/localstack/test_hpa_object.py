"""The local HPA as an autoscaling/v2 object: what the admin API serves, and
what it accepts in its place (or refuses, naming the field)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from harness.localstack.orchestrator.hpa_object import HPAObjectError, from_object, to_object
from harness.localstack.topology import HPA, load_topology

REFERENCE = Path(__file__).parents[3] / "reference-stack" / "local" / "topology.yaml"
MANIFEST_HPA = Path(__file__).parents[3] / "reference-stack" / "kubernetes" / "base" / "workloads" / "chat-v1-hpa"


def reference_hpa() -> HPA:
    return load_topology(REFERENCE).hpas[0]


def test_served_as_the_manifests_write_it() -> None:
    import yaml

    manifest = yaml.safe_load((MANIFEST_HPA / "hpa.yaml").read_text())
    served = to_object(reference_hpa(), "llm", {"currentReplicas": 2, "desiredReplicas": 2,
                                                "currentAverageValue": 0.5})
    assert served["metadata"]["name"] == manifest["metadata"]["name"] == "chat-v1"
    for field in ("minReplicas", "maxReplicas", "metrics"):
        assert served["spec"][field] == manifest["spec"][field], field
    assert served["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30  # shrunk from 300
    assert served["status"]["currentMetrics"][0]["pods"]["current"]["averageValue"] == "500m"


def test_round_trip_and_edits() -> None:
    current = reference_hpa()
    obj = to_object(current, "llm")
    assert from_object(copy.deepcopy(obj), current) == current
    obj["spec"]["maxReplicas"] = 2
    obj["spec"]["behavior"]["scaleDown"]["selectPolicy"] = "Disabled"
    edited = from_object(obj, current)
    assert edited.max_replicas == 2 and edited.behavior.scale_down.select_policy == "Disabled"
    assert edited.sync_period == current.sync_period  # a controller-manager flag, not the object's
    del obj["spec"]["behavior"]
    assert from_object(obj, current).behavior.scale_down.stabilization_window == 300  # Kubernetes' default


@pytest.mark.parametrize("edit,field", [
    (lambda o: o["spec"]["metrics"].append(o["spec"]["metrics"][0]), "spec.metrics"),
    (lambda o: o["spec"]["metrics"][0]["pods"]["target"].update(averageValue="five"), "averageValue"),
    (lambda o: o["spec"]["scaleTargetRef"].update(name="other"), "spec.scaleTargetRef.name"),
    (lambda o: o["spec"]["behavior"]["scaleUp"].update(policies=[{"type": "Pods", "value": 1}]), "policies"),
    (lambda o: o["spec"].update(minReplicas=5), "minReplicas"),
    (lambda o: o.update(kind="Deployment"), "kind"),
])
def test_refused_with_the_field(edit: object, field: str) -> None:
    current = reference_hpa()
    obj = to_object(current, "llm")
    edit(obj)  # type: ignore[operator]
    with pytest.raises(HPAObjectError, match=field):
        from_object(obj, current)
