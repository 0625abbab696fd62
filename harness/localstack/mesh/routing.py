"""The routing table: clusters (a Service host and optional subset) built from
the Istio config, the topology's Services and the orchestrator's ready pods.

A `RoutingTable` is immutable in shape; a reload builds a new one and swaps
it in, carrying over each cluster whose policy did not change (so outlier
state, pool counters and in-flight accounting survive). Requests already in
flight keep the cluster objects they started with, so no request is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from harness.istio.base import seconds
from harness.istio.config import MeshConfig
from harness.istio.destination_rule import TrafficPolicy
from harness.istio.hosts import short_host
from harness.localstack.mesh.balancer import (
    ClusterBalancer,
    Endpoint,
    LbPolicy,
    assign_priorities,
    distribute_weights,
)
from harness.localstack.mesh.outlier import OutlierDetector, OutlierSettings
from harness.localstack.mesh.pool import ConnectionPool, PoolLimits
from harness.localstack.mesh.retry import IstioVersion
from harness.localstack.mesh.upstream import ISTIO_IDLE_TIMEOUT_S, UpstreamConnections, address_of
from harness.localstack.topology import Topology
from harness.selectors import LabelSelector

__all__ = ["Cluster", "RoutingTable", "cluster_name", "endpoints_from_pods", "route_hashes"]


def cluster_name(host: str, subset: str | None, namespace: str, port: int = 8000) -> str:
    """Envoy's outbound cluster name, as Istio generates it."""
    return f"outbound|{port}|{subset or ''}|{host}.{namespace}.svc.cluster.local"


def endpoints_from_pods(pods: list[dict[str, Any]]) -> list[tuple[Endpoint, dict[str, str]]]:
    out = []
    for p in pods:
        labels = dict(p.get("labels") or {})
        ep = Endpoint(pod=p["name"], url=p["url"], region=p.get("region", ""),
                      workload=p.get("deployment", p["name"]), labels=tuple(sorted(labels.items())))
        out.append((ep, labels))
    return out


@dataclass
class Cluster:
    host: str
    subset: str | None
    name: str
    policy: TrafficPolicy | None
    balancer: ClusterBalancer
    outlier: OutlierDetector | None
    pool: ConnectionPool
    connect_timeout: float = 10.0
    fingerprint: str = ""
    subset_labels: dict[str, str] = field(default_factory=dict)
    connections: UpstreamConnections = field(default_factory=UpstreamConnections)

    def ejected(self) -> set[str]:
        return self.outlier.ejected() if self.outlier else set()

    @property
    def panic_threshold(self) -> float:
        """minHealthPercent (Envoy's healthy_panic_threshold; 0, Istio's default, disables panic)."""
        return float(self.outlier.settings.min_health_percent) if self.outlier else 0.0


def _policy_for(config: MeshConfig, host: str, subset: str | None) -> tuple[TrafficPolicy | None, dict[str, str] | None]:
    dr = config.destination_rule(host)
    if dr is None:
        return None, ({} if subset is None else None)
    base = dr.spec.trafficPolicy
    if subset is None:
        return base, {}
    for s in dr.spec.subsets or []:
        if s.name == subset:
            policy = s.trafficPolicy.merged_over(base) if s.trafficPolicy else base
            return policy, dict(s.labels or {})
    return None, None  # unknown subset: Envoy has no such cluster


def route_hashes(config: MeshConfig, host: str, subset: str | None) -> bool:
    """Whether pilot gives a route to this destination a hash policy
    (route.go `HashForHTTPDestination`): the subset's consistentHash, else
    the rule's. Port-level settings are not emulated."""
    dr = config.destination_rule(host)
    if dr is None:
        return False
    for s in dr.spec.subsets or []:
        if s.name == subset and s.trafficPolicy and s.trafficPolicy.loadBalancer \
                and s.trafficPolicy.loadBalancer.consistentHash:
            return True
    top = dr.spec.trafficPolicy
    return bool(top and top.loadBalancer and top.loadBalancer.consistentHash)


def _new_cluster(host: str, subset: str | None, namespace: str, policy: TrafficPolicy | None,
                 labels: dict[str, str], fingerprint: str) -> Cluster:
    od = policy.outlierDetection if policy else None
    cp = policy.connectionPool if policy else None
    connect = seconds(cp.tcp.connectTimeout if cp and cp.tcp else None, 10.0) or 10.0
    http = cp.http if cp else None
    connections = UpstreamConnections(http.maxRequestsPerConnection if http else None,
                                      seconds(http.idleTimeout if http else None, ISTIO_IDLE_TIMEOUT_S))
    return Cluster(host=host, subset=subset, name=cluster_name(host, subset, namespace), policy=policy,
                   balancer=ClusterBalancer(LbPolicy.from_policy(policy)),
                   outlier=OutlierDetector(OutlierSettings.from_policy(od)) if od else None,
                   pool=ConnectionPool(PoolLimits.from_policy(cp)), connect_timeout=connect,
                   fingerprint=fingerprint, subset_labels=labels, connections=connections)


@dataclass
class RoutingTable:
    config: MeshConfig
    topology: Topology
    client_region: str
    clusters: dict[tuple[str, str | None], Cluster] = field(default_factory=dict)
    pods: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def istio(self) -> IstioVersion:
        return IstioVersion.parse(self.topology.istio_version)

    def service_selector(self, host: str) -> dict[str, str] | None:
        for s in self.topology.services:
            if s.name == short_host(host):
                return dict(s.selector)
        return None

    def cluster(self, host: str, subset: str | None) -> Cluster | None:
        """The cluster for a route destination, created on first use; None when
        the host is not a Service or the subset is not declared."""
        host = short_host(host)
        key = (host, subset)
        c = self.clusters.get(key)
        if c is not None:
            return c
        if self.service_selector(host) is None:
            return None
        policy, labels = _policy_for(self.config, host, subset)
        if labels is None:
            return None
        fp = json.dumps([policy.model_dump(mode="json", exclude_none=True) if policy else None, labels],
                        sort_keys=True)
        c = self.clusters[key] = _new_cluster(host, subset, self.topology.namespace, policy, labels, fp)
        self._assign(c)
        return c

    def _assign(self, c: Cluster) -> None:
        selector = self.service_selector(c.host) or {}
        wanted = LabelSelector.from_labels({**selector, **c.subset_labels})
        eps = [ep for ep, labels in endpoints_from_pods(self.pods) if wanted.matches(labels)]
        lb = c.policy.loadBalancer if c.policy else None
        distribute = distribute_weights(lb.localityLbSetting if lb else None, self.client_region)
        if distribute is not None and "*" not in distribute:
            # pilot's applyLocalityWeights drops the endpoints of localities `to` does not list
            eps = [ep for ep in eps if ep.region in distribute]
        levels = assign_priorities(eps, lb.localityLbSetting if lb else None, c.outlier is not None,
                                   self.client_region)
        c.balancer.set_levels(levels)
        c.balancer.distribute = distribute
        c.connections.retain({address_of(ep.url) for ep in eps})
        if c.outlier:
            c.outlier.sync_hosts([e.pod for e in eps])

    def set_pods(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        for c in self.clusters.values():
            self._assign(c)

    def rebuilt(self, config: MeshConfig) -> RoutingTable:
        """A table for a new config, keeping every cluster whose policy is unchanged."""
        table = RoutingTable(config, self.topology, self.client_region, pods=self.pods)
        for (host, subset), old in self.clusters.items():
            new = table.cluster(host, subset)
            if new is not None and new.fingerprint == old.fingerprint:
                table.clusters[(host, subset)] = old
            else:
                old.connections.drain()
        return table
