"""Istio's standard request metrics as the gateway and the pods' sidecars
report them (Istio's standard metrics reference: the label set of
istio_requests_total).

Code under test: harness/localstack/mesh/telemetry.py.
"""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harness.localstack.mesh.telemetry import REQUEST_LABELS, Destination, MeshTelemetry


def samples(t: MeshTelemetry) -> list[dict[str, str]]:
    text = generate_latest(t.registry).decode()
    return [s.labels for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == "istio_requests_total"]


def test_every_standard_label_is_present_for_both_reporters():
    t = MeshTelemetry("us-east")
    pod = Destination("chat", "llm", "chat-v1-us-east", "v1", "chat", "us-east")
    t.record(pod, 200, "", 12.0)
    t.record(pod, 200, "", 10.0, reporter="destination")
    by_reporter = {s["reporter"]: s for s in samples(t)}
    assert set(by_reporter) == {"source", "destination"}
    for labels in by_reporter.values():
        assert set(labels) == set(REQUEST_LABELS)
        assert labels["source_principal"] == \
            "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
        assert labels["source_canonical_service"] == "istio-ingressgateway"
        assert labels["destination_principal"] == "spiffe://cluster.local/ns/llm/sa/default"
        assert labels["destination_canonical_revision"] == "v1" and labels["grpc_response_status"] == ""
    assert by_reporter["destination"]["connection_security_policy"] == "mutual_tls"
    assert by_reporter["source"]["connection_security_policy"] == "unknown"


def test_a_local_reply_names_no_destination_workload():
    t = MeshTelemetry("us-east")
    t.record(Destination("chat", "llm"), 503, "UH", 0.1)
    [labels] = samples(t)
    assert labels["destination_workload"] == labels["destination_principal"] == "unknown"
    assert labels["response_flags"] == "UH"
