"""kube-state-metrics names for the local stack, so the same PromQL runs on both targets.

Series carry kube-state-metrics' own labels (`namespace`, `deployment`, `pod`,
`container`, `horizontalpodautoscaler`) plus `cluster` set to the region, as a
multi-cluster Prometheus adds it to each cluster's series.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from harness.localstack.orchestrator.core import Orchestrator

__all__ = ["render_kube_state_metrics"]


class _KubeStateCollector:
    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch

    def collect(self) -> Iterator[Metric]:
        orch = self.orch
        ns = orch.topology.namespace
        spec = GaugeMetricFamily("kube_deployment_spec_replicas", "Desired pods of a deployment.",
                                 labels=["namespace", "deployment", "cluster"])
        status = GaugeMetricFamily("kube_deployment_status_replicas", "Pods of a deployment.",
                                   labels=["namespace", "deployment", "cluster"])
        available = GaugeMetricFamily("kube_deployment_status_replicas_available",
                                      "Available (ready) pods of a deployment.",
                                      labels=["namespace", "deployment", "cluster"])
        for d in orch.topology.deployments:
            labels = [ns, d.name, d.region]
            pods = orch.deployment_pods(d.name)
            spec.add_metric(labels, orch.desired[d.name])
            status.add_metric(labels, len(pods))
            available.add_metric(labels, sum(1 for p in pods if p.ready and not p.region_down))
        yield from (spec, status, available)

        restarts = CounterMetricFamily("kube_pod_container_status_restarts_total",
                                       "Restarts of a pod's container.",
                                       labels=["namespace", "pod", "container", "cluster"])
        ready = GaugeMetricFamily("kube_pod_status_ready", "Pod readiness.",
                                  labels=["namespace", "pod", "condition", "cluster"])
        phase = GaugeMetricFamily("kube_pod_status_phase", "Pod phase.",
                                  labels=["namespace", "pod", "phase", "cluster"])
        pod_labels = GaugeMetricFamily("kube_pod_labels", "Pod labels.",
                                       labels=["namespace", "pod", "cluster", "label_app", "label_model",
                                               "label_version", "label_pool", "label_region"])
        for p in orch.pods.values():
            if p.deleted:
                continue
            restarts.add_metric([ns, p.name, "vllm", p.region], p.restarts)
            up = p.ready and not p.region_down
            ready.add_metric([ns, p.name, "true", p.region], 1.0 if up else 0.0)
            ready.add_metric([ns, p.name, "false", p.region], 0.0 if up else 1.0)
            phase.add_metric([ns, p.name, p.phase, p.region], 1.0)
            lab = p.labels
            pod_labels.add_metric([ns, p.name, p.region, lab.get("app", ""), lab.get("model", ""),
                                   lab.get("version", ""), lab.get("pool", ""), p.region], 1.0)
        yield from (restarts, ready, phase, pod_labels)

        hpa_labels = ["namespace", "horizontalpodautoscaler", "cluster"]
        current = GaugeMetricFamily("kube_horizontalpodautoscaler_status_current_replicas",
                                    "Current replicas of the HPA's target.", labels=hpa_labels)
        desired = GaugeMetricFamily("kube_horizontalpodautoscaler_status_desired_replicas",
                                    "Replicas the HPA wants.", labels=hpa_labels)
        min_r = GaugeMetricFamily("kube_horizontalpodautoscaler_spec_min_replicas", "HPA lower bound.",
                                  labels=hpa_labels)
        max_r = GaugeMetricFamily("kube_horizontalpodautoscaler_spec_max_replicas", "HPA upper bound.",
                                  labels=hpa_labels)
        target = GaugeMetricFamily("kube_horizontalpodautoscaler_spec_target_metric", "HPA target value.",
                                   labels=[*hpa_labels, "metric_name", "metric_target_type"])
        for h in orch.hpas.values():
            region = orch.topology.deployment(h.spec.deployment).region
            labels = [ns, h.spec.name, region]
            current.add_metric(labels, h.current_replicas)
            desired.add_metric(labels, h.desired_replicas)
            min_r.add_metric(labels, h.spec.min_replicas)
            max_r.add_metric(labels, h.spec.max_replicas)
            target.add_metric([*labels, h.spec.metric, "average"], h.spec.target_average_value)
        yield from (current, desired, min_r, max_r, target)


def render_kube_state_metrics(orch: Orchestrator) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_KubeStateCollector(orch))
    return generate_latest(registry)
