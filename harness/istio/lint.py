"""The lint rules over loaded Istio objects (ids and severities in `rules`).

`lint(config, registry)` runs every rule; what the caller knows about the
Services and pods behind the hosts (a topology, Kubernetes manifests, or
nothing for a plain Istio directory) decides which cross-checks can run, never
how a finding is judged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from harness.diagnostics import Diagnostic, field_path
from harness.durations import parse_duration
from harness.istio import rules
from harness.istio.config import MeshConfig, object_ref
from harness.istio.destination_rule import DestinationRule, TrafficPolicy
from harness.istio.hosts import ROOT_NAMESPACE, host_matches, namespace_of_host, qualify, short_host
from harness.istio.kinds import KINDS, IstioObject, group_of
from harness.istio.registry import ServiceRegistry
from harness.istio.rules import Rule
from harness.istio.virtual_service import Destination, HTTPRoute, VirtualService
from harness.selectors import LabelSelector

__all__ = ["applicable_destination_rules", "lint"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class _Findings:
    """Reports findings about one object, with its file and line."""

    config: MeshConfig
    obj: IstioObject

    def __call__(self, rule: Rule, loc: Loc, message: str, fix: str) -> Diagnostic:
        src = self.config.source(self.obj)
        return rule.report(src.file if src else "", message, object=object_ref(self.obj),
                           field=field_path(loc) or None, fix=fix, line=src.line(loc) if src else None)


def _namespace(obj: IstioObject, registry: ServiceRegistry) -> str:
    return obj.metadata.namespace or registry.namespace


# -- one object at a time -------------------------------------------------------

def _api_version(obj: IstioObject, at: _Findings) -> list[Diagnostic]:
    kind = KINDS[(group_of(obj.apiVersion), obj.kind)]
    if obj.apiVersion in kind.deprecated:
        return [at(rules.DEPRECATED_API_VERSION, ("apiVersion",), f"{obj.apiVersion} is deprecated",
                   f"use apiVersion: {kind.modern}")]
    return []


def _virtual_service_fields(vs: VirtualService, at: _Findings) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for i, r in enumerate(vs.spec.http or []):
        here: Loc = ("spec", "http", i)
        if r.mirrorPercent is not None:
            out.append(at(rules.DEPRECATED_FIELD, (*here, "mirrorPercent"), "mirrorPercent is deprecated",
                          f"use mirrorPercentage: {{value: {float(r.mirrorPercent)}}}"))
        if r.fault and r.fault.delay and r.fault.delay.percent is not None:
            out.append(at(rules.DEPRECATED_FIELD, (*here, "fault", "delay", "percent"),
                          "fault.delay.percent is deprecated",
                          f"use percentage: {{value: {float(r.fault.delay.percent)}}}"))
        for key in ("delegate", "rewrite", "corsPolicy"):
            if getattr(r, key) is not None:
                out.append(at(rules.NOT_EMULATED, (*here, key),
                              f"{key} is valid Istio but not emulated by the local proxy",
                              "test it on a cluster; the local stack ignores it"))
        out += _route_weights(r, here, at) + _timeout_vs_retries(r, here, at)
    if vs.spec.tcp or vs.spec.tls:
        out.append(at(rules.NOT_EMULATED, ("spec",), "tcp/tls routes are not emulated by the local proxy",
                      "the local stack routes http only"))
    return out


def _route_weights(r: HTTPRoute, here: Loc, at: _Findings) -> list[Diagnostic]:
    route = r.route or []
    total = sum(d.weight for d in route)
    if len(route) > 1 and total not in (0, 100):  # 0 is a schema error
        return [at(rules.ROUTE_WEIGHTS_NOT_100, (*here, "route"),
                   f"route weights sum to {total}, not 100; Istio reads them as relative shares, which is easy "
                   "to misread", "make the weights add up to 100")]
    return []


def _timeout_vs_retries(r: HTTPRoute, here: Loc, at: _Findings) -> list[Diagnostic]:
    if r.timeout is None or r.retries is None or r.retries.perTryTimeout is None or not r.retries.attempts:
        return []
    timeout, per_try = parse_duration(r.timeout), parse_duration(r.retries.perTryTimeout)
    needed = (r.retries.attempts + 1) * per_try
    if timeout >= needed:
        return []
    return [at(rules.TIMEOUT_SHORTER_THAN_RETRIES, (*here, "timeout"),
               f"timeout {r.timeout} is shorter than {r.retries.attempts + 1} tries x perTryTimeout "
               f"{r.retries.perTryTimeout} = {needed:g}s: the later retries can never complete",
               "raise the timeout or lower attempts / perTryTimeout")]


def _traffic_policy_fields(dr: DestinationRule, at: _Findings) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    top = dr.spec.trafficPolicy
    policies: list[tuple[Loc, TrafficPolicy | None]] = [(("spec", "trafficPolicy"), top)]
    policies += [(("spec", "subsets", i, "trafficPolicy"), s.trafficPolicy) for i, s in enumerate(dr.spec.subsets or [])]
    for loc, tp in policies:
        if tp is None:
            continue
        od, lb = tp.outlierDetection, tp.loadBalancer
        if od and od.consecutiveErrors is not None:
            out.append(at(rules.DEPRECATED_FIELD, (*loc, "outlierDetection", "consecutiveErrors"),
                          "outlier detection consecutive errors is deprecated and ignored by Istio (Envoy's default "
                          "of 5 consecutive 5xx applies)", "use consecutive5xxErrors or consecutiveGatewayErrors"))
        if lb and lb.simple == "LEAST_CONN":
            out.append(at(rules.DEPRECATED_FIELD, (*loc, "loadBalancer", "simple"),
                          "LEAST_CONN is deprecated; Istio treats it as LEAST_REQUEST", "use simple: LEAST_REQUEST"))
        if lb and lb.consistentHash and lb.consistentHash.minimumRingSize is not None:
            out.append(at(rules.DEPRECATED_FIELD, (*loc, "loadBalancer", "consistentHash", "minimumRingSize"),
                          "consistentHash.minimumRingSize is deprecated",
                          "use consistentHash.ringHash.minimumRingSize"))
        if lb and lb.warmupDurationSecs is not None:
            out.append(at(rules.DEPRECATED_FIELD, (*loc, "loadBalancer", "warmupDurationSecs"),
                          "warmupDurationSecs is deprecated", "use warmup.duration"))
        locality = lb.localityLbSetting if lb else None
        # A subset inherits the rule's outlier detection (Istio merges top-level settings).
        inherited = tp is not top and top is not None and top.outlierDetection is not None
        if locality and (locality.failover or locality.failoverPriority) and od is None and not inherited:
            out.append(at(rules.FAILOVER_WITHOUT_OUTLIER_DETECTION, (*loc, "loadBalancer", "localityLbSetting"),
                          "outlier detection policy must be provided for failover; without it Istio does not "
                          "apply failover", "add outlierDetection to this traffic policy"))
        if tp.portLevelSettings:
            out.append(at(rules.NOT_EMULATED, (*loc, "portLevelSettings"),
                          "portLevelSettings are not emulated by the local proxy",
                          "put the policy at the traffic policy's top level for local runs"))
    return out


# -- across objects -------------------------------------------------------------

def applicable_destination_rules(config: MeshConfig, fqdn: str, namespace: str,
                                 registry: ServiceRegistry) -> list[DestinationRule]:
    """The DestinationRules that apply to traffic for `fqdn` sent from `namespace`,
    as Istio picks them: the client namespace's own, else the host's namespace's,
    else the root namespace's (the mesh-wide default). Several in one namespace
    are merged by Istio, so all of them count."""
    for ns in dict.fromkeys(n for n in (namespace, namespace_of_host(fqdn), ROOT_NAMESPACE) if n):
        found = [dr for dr in config.destination_rules
                 if _namespace(dr, registry) == ns and host_matches(fqdn, qualify(dr.spec.host, ns))]
        if found:
            return found
    return []


def _destinations(vs: VirtualService) -> Iterator[tuple[Loc, Destination]]:
    for i, r in enumerate(vs.spec.http or []):
        for j, d in enumerate(r.route or []):
            yield ("spec", "http", i, "route", j, "destination"), d.destination
        if r.mirror is not None:
            yield ("spec", "http", i, "mirror"), r.mirror
        for j, m in enumerate(r.mirrors or []):
            yield ("spec", "http", i, "mirrors", j, "destination"), m.destination


def _service_entry_hosts(config: MeshConfig, registry: ServiceRegistry) -> list[str]:
    return [qualify(h, _namespace(se, registry)) for se in config.service_entries for h in se.spec.hosts]


def _destination_checks(config: MeshConfig, registry: ServiceRegistry) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    external = _service_entry_hosts(config, registry)
    for vs in config.virtual_services:
        at, ns = _Findings(config, vs), _namespace(vs, registry)
        for loc, d in _destinations(vs):
            fqdn = qualify(d.host, ns)
            is_external = any(host_matches(fqdn, h) for h in external)
            if registry.knows_services and fqdn not in registry.services and not is_external:
                known = sorted({short_host(h) for h in registry.services if namespace_of_host(h) == ns})
                out.append(at(rules.UNKNOWN_HOST, (*loc, "host"),
                              f"host '{d.host}' is not a Service of {registry.origin} nor a ServiceEntry host ({fqdn})",
                              f"use one of {known} (namespace {ns}), qualify the host, or add a ServiceEntry"))
                continue
            if d.subset is None:
                continue
            drs = applicable_destination_rules(config, fqdn, ns, registry)
            declared = sorted({s.name for dr in drs for s in dr.spec.subsets or []})
            if d.subset not in declared:
                where = f"DestinationRule {', '.join(dr.metadata.name for dr in drs)}" if drs else \
                    "a DestinationRule"
                out.append(at(rules.UNDECLARED_SUBSET, (*loc, "subset"),
                              f"subset '{d.subset}' of host '{d.host}' is not declared in {where} applying in "
                              f"namespace {ns}; Envoy answers 503 (no cluster) for it",
                              f"declare it, or use one of {declared}" if declared else
                              f"declare it in a DestinationRule for host {d.host} in namespace {ns}"))
    return out


def _destination_rule_conflicts(config: MeshConfig, registry: ServiceRegistry) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    first: dict[tuple[str, str], DestinationRule] = {}
    for dr in config.destination_rules:
        if dr.spec.workloadSelector is not None:
            continue  # applies to the selected workloads only
        ns = _namespace(dr, registry)
        key = (ns, qualify(dr.spec.host, ns))
        if key not in first:
            first[key] = dr
            continue
        out.append(_Findings(config, dr)(
            rules.DESTINATION_RULE_CONFLICT, ("spec", "host"),
            f"DestinationRules {first[key].metadata.name} and {dr.metadata.name} both set host {dr.spec.host} in "
            f"namespace {ns}; Istio merges their subsets and applies only the oldest one's trafficPolicy",
            "merge them into one"))
    return out


def _subset_pods(config: MeshConfig, registry: ServiceRegistry) -> list[Diagnostic]:
    if registry.workloads is None:
        return []
    out: list[Diagnostic] = []
    for dr in config.destination_rules:
        fqdn = qualify(dr.spec.host, _namespace(dr, registry))
        service = registry.services.get(fqdn)
        if service is None:
            continue  # no Service known behind the host (external, or not in these files)
        for i, subset in enumerate(dr.spec.subsets or []):
            want = {**service, **(subset.labels or {})}
            if not any(LabelSelector.from_labels(want).matches(pod) for pod in registry.workloads):
                out.append(_Findings(config, dr)(
                    rules.SUBSET_SELECTS_NO_PODS, ("spec", "subsets", i, "labels"),
                    f"subset '{subset.name}' selects {want}, which no Deployment's pods carry",
                    "use labels of the Deployments behind the host"))
    return out


def lint(config: MeshConfig, registry: ServiceRegistry | None = None) -> list[Diagnostic]:
    """Every rule over `config`, with what `registry` knows of Services and pods."""
    registry = registry or ServiceRegistry()
    out: list[Diagnostic] = []
    for vs in config.virtual_services:
        at = _Findings(config, vs)
        out += _api_version(vs, at) + _virtual_service_fields(vs, at)
    for dr in config.destination_rules:
        at = _Findings(config, dr)
        out += _api_version(dr, at) + _traffic_policy_fields(dr, at)
    for se in config.service_entries:
        at = _Findings(config, se)
        out += _api_version(se, at)
        out.append(at(rules.NOT_EMULATED, ("spec", "hosts"), "ServiceEntry hosts are valid destinations, but the "
                      "local proxy reaches no external host: routes to them answer 503 there",
                      "test the external fallback on a cluster"))
    out += _destination_rule_conflicts(config, registry)
    out += _destination_checks(config, registry)
    out += _subset_pods(config, registry)
    return out
