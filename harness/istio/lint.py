"""Lint rules over loaded Istio objects: deprecated forms, settings the local
proxy does not emulate, and cross-checks against a topology."""

from __future__ import annotations

from harness.diagnostics import Diagnostic, field_path
from harness.istio.config import MeshConfig, Source
from harness.istio.destination_rule import DestinationRule
from harness.istio.hosts import short_host
from harness.istio.kinds import MODERN_VERSION, OLD_VERSIONS
from harness.istio.virtual_service import VirtualService

__all__ = ["object_diagnostics", "topology_diagnostics"]


def object_diagnostics(obj: VirtualService | DestinationRule, src: Source) -> list[Diagnostic]:
    name = f"{obj.kind}/{obj.metadata.name}"
    out: list[Diagnostic] = []

    def warn(loc: tuple, message: str, fix: str) -> None:
        out.append(Diagnostic("warning", src.file, message, field=field_path(loc), object=name, fix=fix,
                              line=src.doc.line(loc)))

    if obj.apiVersion in OLD_VERSIONS:
        warn(("apiVersion",), f"{obj.apiVersion} is deprecated", f"use apiVersion: {MODERN_VERSION}")
    if isinstance(obj, VirtualService):
        for i, r in enumerate(obj.spec.http or []):
            if r.mirrorPercent is not None:
                warn(("spec", "http", i, "mirrorPercent"), "mirrorPercent is deprecated",
                     f"use mirrorPercentage: {{value: {float(r.mirrorPercent)}}}")
            if r.fault and r.fault.delay and r.fault.delay.percent is not None:
                warn(("spec", "http", i, "fault", "delay", "percent"), "fault.delay.percent is deprecated",
                     f"use percentage: {{value: {float(r.fault.delay.percent)}}}")
            for key in ("delegate", "rewrite", "corsPolicy"):
                if getattr(r, key) is not None:
                    warn(("spec", "http", i, key), f"{key} is valid Istio but not emulated by the local proxy",
                         "test it on a cluster; the local stack ignores it")
        if obj.spec.tcp or obj.spec.tls:
            warn(("spec",), "tcp/tls routes are not emulated by the local proxy", "the local stack routes http only")
    else:
        policies = [(("spec", "trafficPolicy"), obj.spec.trafficPolicy)]
        policies += [(("spec", "subsets", i, "trafficPolicy"), s.trafficPolicy)
                     for i, s in enumerate(obj.spec.subsets or [])]
        for loc, tp in policies:
            if tp is None:
                continue
            od, lb = tp.outlierDetection, tp.loadBalancer
            if od and od.consecutiveErrors is not None:
                warn(loc + ("outlierDetection", "consecutiveErrors"),
                     "outlier detection consecutive errors is deprecated and ignored by Istio (Envoy's default "
                     "of 5 consecutive 5xx applies)", "use consecutive5xxErrors or consecutiveGatewayErrors")
            if lb and lb.simple == "LEAST_CONN":
                warn(loc + ("loadBalancer", "simple"), "LEAST_CONN is deprecated; Istio treats it as LEAST_REQUEST",
                     "use simple: LEAST_REQUEST")
            if lb and lb.consistentHash and lb.consistentHash.minimumRingSize is not None:
                warn(loc + ("loadBalancer", "consistentHash", "minimumRingSize"),
                     "consistentHash.minimumRingSize is deprecated", "use consistentHash.ringHash.minimumRingSize")
            if lb and lb.warmupDurationSecs is not None:
                warn(loc + ("loadBalancer", "warmupDurationSecs"), "warmupDurationSecs is deprecated",
                     "use warmup.duration")
            loc_lb = lb.localityLbSetting if lb else None
            if loc_lb and (loc_lb.failover or loc_lb.failoverPriority) and od is None \
                    and not (loc is not policies[0][0] and obj.spec.trafficPolicy
                             and obj.spec.trafficPolicy.outlierDetection):
                warn(loc + ("loadBalancer", "localityLbSetting"),
                     "outlier detection policy must be provided for failover; without it Istio does not apply "
                     "failover", "add outlierDetection to this traffic policy")
            if tp.portLevelSettings:
                warn(loc + ("portLevelSettings",), "portLevelSettings are not emulated by the local proxy",
                     "put the policy at the traffic policy's top level for local runs")
    return out



def topology_diagnostics(config: MeshConfig, services: set[str]) -> list[Diagnostic]:
    """Cross-checks against the local topology: every destination names a
    Service, every subset a route uses is declared in its DestinationRule."""
    out: list[Diagnostic] = []
    for vs in config.virtual_services:
        file = config.sources.get(("VirtualService", vs.metadata.name), "")
        obj = f"VirtualService/{vs.metadata.name}"
        for i, rule in enumerate(vs.spec.http or []):
            dests = [(f"spec.http[{i}].route[{j}].destination", d.destination) for j, d in enumerate(rule.route or [])]
            if rule.mirror:
                dests.append((f"spec.http[{i}].mirror", rule.mirror))
            dests += [(f"spec.http[{i}].mirrors[{j}].destination", m.destination) for j, m in enumerate(rule.mirrors or [])]
            for where, d in dests:
                host = short_host(d.host)
                if host not in services:
                    out.append(Diagnostic("error", file, f"host '{d.host}' is not a Service of the topology",
                                          field=f"{where}.host", object=obj,
                                          fix=f"use one of {sorted(services)} or add the Service to the topology"))
                    continue
                if d.subset is None:
                    continue
                dr = config.destination_rule(host)
                if dr is None or d.subset not in {s.name for s in dr.spec.subsets or []}:
                    out.append(Diagnostic("warning", file, f"subset '{d.subset}' of host '{host}' is not declared in "
                                          "a DestinationRule; Envoy answers 503 (no cluster) for it",
                                          field=f"{where}.subset", object=obj,
                                          fix="declare the subset in the host's DestinationRule"))
    return out
