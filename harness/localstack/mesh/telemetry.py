"""Istio's standard metrics and a few Envoy cluster stats, on the mesh
proxy's /metrics. The gateway reports as Istio's ingress gateway does
(`reporter="source"`); what the destination pods' sidecars would report for
the requests that reached them is reported beside it
(`reporter="destination"`), so queries written for either reporter work.
`destination_cluster` carries the region."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["MeshTelemetry", "Destination", "UNKNOWN"]

UNKNOWN = "unknown"
# Istio's default buckets for istio_request_duration_milliseconds
DURATION_BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
                       600000, 1800000, 3600000)
REQUEST_LABELS = ("reporter", "source_workload", "source_workload_namespace", "source_principal", "source_app",
                  "source_version", "source_canonical_service", "source_canonical_revision", "source_cluster",
                  "destination_service", "destination_service_name", "destination_service_namespace",
                  "destination_principal", "destination_workload", "destination_workload_namespace",
                  "destination_version", "destination_app", "destination_canonical_service",
                  "destination_canonical_revision", "destination_cluster", "request_protocol", "response_code",
                  "grpc_response_status", "response_flags", "connection_security_policy")
# What the sidecars of the engine pods would see: mTLS between every hop, the
# pods running as their namespace's default service account.
TRUST_DOMAIN = "cluster.local"


@dataclass(frozen=True)
class Destination:
    service: str  # short name
    namespace: str
    workload: str = UNKNOWN
    version: str = UNKNOWN
    app: str = UNKNOWN
    region: str = UNKNOWN


class MeshTelemetry:
    def __init__(self, gateway_region: str, gateway_workload: str = "istio-ingressgateway",
                 gateway_namespace: str = "istio-system") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.source = (gateway_workload, gateway_namespace, gateway_region)
        self.requests = Counter("istio_requests_total", "Requests processed by the proxy.", REQUEST_LABELS,
                                registry=r)
        self.duration = Histogram("istio_request_duration_milliseconds", "Request duration in milliseconds.",
                                  REQUEST_LABELS, buckets=DURATION_BUCKETS_MS, registry=r)
        self.ejections_active = Gauge("envoy_cluster_outlier_detection_ejections_active",
                                      "Hosts currently ejected by outlier detection.", ["cluster_name"], registry=r)
        self.ejections_total = Counter("envoy_cluster_outlier_detection_ejections_enforced_total",
                                       "Ejections enforced.", ["cluster_name"], registry=r)
        self.overflow = Counter("envoy_cluster_upstream_rq_pending_overflow",
                                "Requests that overflowed the connection pool.", ["cluster_name"], registry=r)
        self.retries = Counter("envoy_cluster_upstream_rq_retry", "Retried requests.", ["cluster_name"], registry=r)
        self.healthy = Gauge("envoy_cluster_membership_healthy", "Healthy endpoints.", ["cluster_name"], registry=r)
        self.total = Gauge("envoy_cluster_membership_total", "Endpoints.", ["cluster_name"], registry=r)
        self._children: dict[tuple[Destination, int, str, str], tuple[Counter, Histogram]] = {}

    def record(self, dest: Destination, code: int, flags: str, duration_ms: float, reporter: str = "source") -> None:
        """One request as `reporter` saw it: "source" is the gateway, "destination"
        the pod's sidecar (code 0 when the gateway gave up before a response)."""
        key = (dest, code, flags, reporter)
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = self._series(dest, code, flags, reporter)
        pair[0].inc()
        pair[1].observe(duration_ms)

    def _series(self, dest: Destination, code: int, flags: str, reporter: str) -> tuple[Counter, Histogram]:
        workload, namespace, region = self.source
        reached = dest.workload != UNKNOWN
        labels = {
            "reporter": reporter, "source_workload": workload, "source_workload_namespace": namespace,
            "source_principal": f"spiffe://{TRUST_DOMAIN}/ns/{namespace}/sa/{workload}-service-account",
            "source_app": workload, "source_version": UNKNOWN, "source_canonical_service": workload,
            "source_canonical_revision": "latest", "source_cluster": region,
            "destination_service": f"{dest.service}.{dest.namespace}.svc.cluster.local",
            "destination_service_name": dest.service, "destination_service_namespace": dest.namespace,
            "destination_principal": f"spiffe://{TRUST_DOMAIN}/ns/{dest.namespace}/sa/default" if reached else UNKNOWN,
            "destination_workload": dest.workload,
            "destination_workload_namespace": dest.namespace if reached else UNKNOWN,
            "destination_version": dest.version, "destination_app": dest.app,
            "destination_canonical_service": dest.app,
            "destination_canonical_revision": (dest.version if dest.version != UNKNOWN else "latest") if reached
            else UNKNOWN,
            "destination_cluster": dest.region, "request_protocol": "http", "response_code": str(code),
            "grpc_response_status": "", "response_flags": flags or "-",
            "connection_security_policy": "mutual_tls" if reporter == "destination" else UNKNOWN,
        }
        return self.requests.labels(**labels), self.duration.labels(**labels)
