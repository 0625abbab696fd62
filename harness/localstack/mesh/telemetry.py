"""Istio's standard metrics and a few Envoy cluster stats, on the mesh
proxy's /metrics. The gateway reports as Istio's ingress gateway does
(`reporter="source"`); `destination_cluster` carries the region."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["MeshTelemetry", "Destination", "UNKNOWN"]

UNKNOWN = "unknown"
# Istio's default buckets for istio_request_duration_milliseconds
DURATION_BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
                       600000, 1800000, 3600000)
REQUEST_LABELS = ("reporter", "source_workload", "source_workload_namespace", "source_cluster",
                  "destination_service", "destination_service_name", "destination_service_namespace",
                  "destination_workload", "destination_workload_namespace", "destination_version",
                  "destination_app", "destination_canonical_service", "destination_cluster", "request_protocol",
                  "response_code", "response_flags", "connection_security_policy")


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
        self._children: dict[tuple[Destination, int, str], tuple[Counter, Histogram]] = {}

    def record(self, dest: Destination, code: int, flags: str, duration_ms: float) -> None:
        key = (dest, code, flags)
        pair = self._children.get(key)
        if pair is None:
            fqdn = f"{dest.service}.{dest.namespace}.svc.cluster.local"
            labels = dict(zip(REQUEST_LABELS, (
                "source", self.source[0], self.source[1], self.source[2], fqdn, dest.service, dest.namespace,
                dest.workload, dest.namespace if dest.workload != UNKNOWN else UNKNOWN, dest.version, dest.app,
                dest.app, dest.region, "http", str(code), flags or "-", "unknown"), strict=True))
            pair = self._children[key] = (self.requests.labels(**labels), self.duration.labels(**labels))
        pair[0].inc()
        pair[1].observe(duration_ms)
