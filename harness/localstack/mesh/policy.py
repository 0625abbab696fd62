"""Istio `networking.istio.io/v1` VirtualService and DestinationRule, as
typed models, and the loader that turns a directory of YAML into a
`MeshConfig` or one clear diagnostic per problem.

The models follow the v1 API field for field (extra fields are errors, as
under strict validation). Deprecated forms are accepted and reported as
warnings with the modern form; fields the local proxy does not emulate are
accepted (they are valid Istio) and reported as warnings too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import re2
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.diagnostics import ConfigError, Diagnostic, errors_only, field_path, from_validation_error
from harness.durations import parse_duration
from harness.yamlsource import SourceDocument, load_documents

__all__ = ["StringMatch", "HTTPMatchRequest", "HTTPRoute", "VirtualService", "DestinationRule", "TrafficPolicy",
           "MeshConfig", "load_mesh_config", "mesh_diagnostics", "short_host", "seconds", "topology_diagnostics"]

API_GROUP = "networking.istio.io"
MODERN_VERSION = f"{API_GROUP}/v1"
OLD_VERSIONS = {f"{API_GROUP}/v1alpha3", f"{API_GROUP}/v1beta1"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def _check_duration(v: Any) -> Any:
    if v is None:
        return v
    if not isinstance(v, str):
        raise ValueError("a duration is a string with a unit, e.g. '10s' or '250ms'")
    parse_duration(v)
    return v


def seconds(v: str | None, default: float | None = None) -> float | None:
    """A validated duration string in seconds (`default` when unset)."""
    return default if v is None else parse_duration(v)


# -- VirtualService ------------------------------------------------------------

class StringMatch(_Model):
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one(self) -> StringMatch:
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) > 1:
            raise ValueError("a StringMatch has one of exact, prefix or regex")
        if self.regex is not None:
            try:
                re2.compile(self.regex)
            except re2.error as exc:
                raise ValueError(f"regex {self.regex!r} is not valid RE2: {exc}") from None
        return self


class PortSelector(_Model):
    number: int = Field(ge=1, le=65535)


class Destination(_Model):
    host: str
    subset: str | None = None
    port: PortSelector | None = None


class HeaderOperations(_Model):
    set: dict[str, str] | None = None
    add: dict[str, str] | None = None
    remove: list[str] | None = None


class Headers(_Model):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPRouteDestination(_Model):
    destination: Destination
    weight: int = Field(0, ge=0)
    headers: Headers | None = None


class HTTPMatchRequest(_Model):
    name: str | None = None
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] | None = None
    withoutHeaders: dict[str, StringMatch] | None = None
    queryParams: dict[str, StringMatch] | None = None
    ignoreUriCase: bool = False
    port: int | None = None
    sourceLabels: dict[str, str] | None = None
    gateways: list[str] | None = None
    sourceNamespace: str | None = None
    statPrefix: str | None = None


class Percent(_Model):
    value: float = Field(ge=0, le=100)


class HTTPRetry(_Model):
    attempts: int = Field(0, ge=0)
    perTryTimeout: str | None = None
    retryOn: str | None = None
    retryRemoteLocalities: bool | None = None
    retryIgnorePreviousHosts: bool | None = None
    backoff: str | None = None

    _durations = field_validator("perTryTimeout", "backoff", mode="before")(_check_duration)


class FaultDelay(_Model):
    fixedDelay: str
    percentage: Percent | None = None
    percent: int | None = Field(None, ge=0, le=100)  # deprecated

    _durations = field_validator("fixedDelay", mode="before")(_check_duration)


class FaultAbort(_Model):
    httpStatus: int | None = Field(None, ge=200, le=599)
    grpcStatus: str | None = None
    percentage: Percent | None = None

    @model_validator(mode="after")
    def _status(self) -> FaultAbort:
        if self.httpStatus is None and self.grpcStatus is None:
            raise ValueError("an abort needs httpStatus (or grpcStatus)")
        return self


class HTTPFaultInjection(_Model):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class HTTPMirrorPolicy(_Model):
    destination: Destination
    percentage: Percent | None = None


class HTTPRoute(_Model):
    name: str | None = None
    match: list[HTTPMatchRequest] | None = None
    route: list[HTTPRouteDestination] | None = None
    redirect: dict[str, Any] | None = None
    directResponse: dict[str, Any] | None = None
    delegate: dict[str, Any] | None = None
    rewrite: dict[str, Any] | None = None
    timeout: str | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: list[HTTPMirrorPolicy] | None = None
    mirrorPercentage: Percent | None = None
    mirrorPercent: int | None = Field(None, ge=0, le=100)  # deprecated
    corsPolicy: dict[str, Any] | None = None
    headers: Headers | None = None

    _durations = field_validator("timeout", mode="before")(_check_duration)

    @model_validator(mode="after")
    def _targets(self) -> HTTPRoute:
        if not (self.route or self.redirect or self.directResponse or self.delegate):
            raise ValueError("an http route needs 'route' (or redirect / directResponse / delegate)")
        if self.route and len(self.route) > 1 and sum(d.weight for d in self.route) == 0:
            raise ValueError("route weights sum to 0; give each destination a weight")
        if self.mirror is not None and self.mirrors:
            raise ValueError("use either 'mirror' or 'mirrors', not both")
        return self


class VirtualServiceSpec(_Model):
    hosts: list[str] = Field(min_length=1)
    gateways: list[str] | None = None
    http: list[HTTPRoute] | None = None
    tls: list[dict[str, Any]] | None = None
    tcp: list[dict[str, Any]] | None = None
    exportTo: list[str] | None = None


# -- DestinationRule -----------------------------------------------------------

class RingHash(_Model):
    minimumRingSize: int = Field(1024, ge=1)


class Maglev(_Model):
    tableSize: int = Field(65537, ge=1)


class HTTPCookie(_Model):
    name: str
    path: str | None = None
    ttl: str | None = None
    attributes: list[dict[str, Any]] | None = None


class ConsistentHashLB(_Model):
    httpHeaderName: str | None = None
    httpCookie: HTTPCookie | None = None
    useSourceIp: bool | None = None
    httpQueryParameterName: str | None = None
    ringHash: RingHash | None = None
    maglev: Maglev | None = None
    minimumRingSize: int | None = None  # deprecated

    @model_validator(mode="after")
    def _one_key(self) -> ConsistentHashLB:
        keys = [self.httpHeaderName, self.httpCookie, self.useSourceIp or None, self.httpQueryParameterName]
        if sum(k is not None for k in keys) != 1:
            raise ValueError("consistentHash needs exactly one of httpHeaderName, httpCookie, useSourceIp, "
                             "httpQueryParameterName")
        if self.ringHash is not None and self.maglev is not None:
            raise ValueError("use ringHash or maglev, not both")
        return self


class LocalityFailover(_Model):
    from_: str = Field(alias="from")
    to: str

    @model_validator(mode="after")
    def _regions(self) -> LocalityFailover:
        for v in (self.from_, self.to):
            if "/" in v or "*" in v:
                raise ValueError(f"failover names regions only ('{v}' has '/' or '*')")
        if self.from_ == self.to:
            raise ValueError(f"failover from '{self.from_}' to itself")
        return self


class LocalityDistribute(_Model):
    from_: str = Field(alias="from")
    to: dict[str, int]

    @model_validator(mode="after")
    def _weights(self) -> LocalityDistribute:
        if any(not 1 <= w <= 100 for w in self.to.values()) or sum(self.to.values()) != 100:
            raise ValueError("distribute 'to' weights are 1..100 and must sum to 100")
        return self


class LocalityLbSetting(_Model):
    enabled: bool | None = None
    distribute: list[LocalityDistribute] | None = None
    failover: list[LocalityFailover] | None = None
    failoverPriority: list[str] | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> LocalityLbSetting:
        if self.distribute and self.failover:
            raise ValueError("distribute and failover cannot be used together")
        return self


class LoadBalancerSettings(_Model):
    simple: Literal["UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"] | None = None
    consistentHash: ConsistentHashLB | None = None
    localityLbSetting: LocalityLbSetting | None = None
    warmupDurationSecs: str | None = None  # deprecated
    warmup: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> LoadBalancerSettings:
        if self.simple is not None and self.consistentHash is not None:
            raise ValueError("loadBalancer takes 'simple' or 'consistentHash', not both")
        return self


class TCPSettings(_Model):
    maxConnections: int | None = Field(None, ge=0)
    connectTimeout: str | None = None
    tcpKeepalive: dict[str, Any] | None = None
    maxConnectionDuration: str | None = None
    idleTimeout: str | None = None

    _durations = field_validator("connectTimeout", "maxConnectionDuration", "idleTimeout", mode="before")(_check_duration)


class HTTPSettings(_Model):
    http1MaxPendingRequests: int | None = Field(None, ge=0)
    http2MaxRequests: int | None = Field(None, ge=0)
    maxRequestsPerConnection: int | None = Field(None, ge=0)
    maxRetries: int | None = Field(None, ge=0)
    idleTimeout: str | None = None
    h2UpgradePolicy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    useClientProtocol: bool | None = None
    maxConcurrentStreams: int | None = None

    _durations = field_validator("idleTimeout", mode="before")(_check_duration)


class ConnectionPoolSettings(_Model):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(_Model):
    splitExternalLocalOriginErrors: bool | None = None
    consecutiveLocalOriginFailures: int | None = None
    consecutiveGatewayErrors: int | None = Field(None, ge=0)
    consecutive5xxErrors: int | None = Field(None, ge=0)
    consecutiveErrors: int | None = None  # deprecated; pilot ignores it
    interval: str | None = None
    baseEjectionTime: str | None = None
    maxEjectionPercent: int | None = Field(None, ge=0, le=100)
    minHealthPercent: int | None = Field(None, ge=0, le=100)

    _durations = field_validator("interval", "baseEjectionTime", mode="before")(_check_duration)


class TrafficPolicy(_Model):
    loadBalancer: LoadBalancerSettings | None = None
    connectionPool: ConnectionPoolSettings | None = None
    outlierDetection: OutlierDetection | None = None
    tls: dict[str, Any] | None = None
    portLevelSettings: list[dict[str, Any]] | None = None
    tunnel: dict[str, Any] | None = None
    proxyProtocol: dict[str, Any] | None = None

    def merged_over(self, base: TrafficPolicy | None) -> TrafficPolicy:
        """A subset's policy over the rule's: each top-level setting replaces the
        rule's when present (Istio's merge for subsets)."""
        if base is None:
            return self
        return TrafficPolicy.model_validate({
            **base.model_dump(by_alias=True, exclude_none=True),
            **self.model_dump(by_alias=True, exclude_none=True)})


class Subset(_Model):
    name: str
    labels: dict[str, str] | None = None
    trafficPolicy: TrafficPolicy | None = None


class DestinationRuleSpec(_Model):
    host: str
    trafficPolicy: TrafficPolicy | None = None
    subsets: list[Subset] | None = None
    exportTo: list[str] | None = None
    workloadSelector: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _unique(self) -> DestinationRuleSpec:
        names = [s.name for s in self.subsets or []]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise ValueError(f"duplicate subset name(s): {', '.join(dups)}")
        return self


class ObjectMeta(_Model):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    name: str
    namespace: str | None = None


class VirtualService(_Model):
    apiVersion: str
    kind: Literal["VirtualService"]
    metadata: ObjectMeta
    spec: VirtualServiceSpec
    status: dict[str, Any] | None = None


class DestinationRule(_Model):
    apiVersion: str
    kind: Literal["DestinationRule"]
    metadata: ObjectMeta
    spec: DestinationRuleSpec
    status: dict[str, Any] | None = None


def short_host(host: str, namespace: str | None = None) -> str:
    """`llm-chat.llm.svc.cluster.local` and `llm-chat.llm` name the Service `llm-chat`."""
    return host.split(".", 1)[0] if host.endswith(".svc.cluster.local") or host.count(".") == 1 else host


# -- loading ------------------------------------------------------------------

@dataclass
class Source:
    file: str
    doc: SourceDocument


@dataclass
class MeshConfig:
    virtual_services: list[VirtualService] = field(default_factory=list)
    destination_rules: list[DestinationRule] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    sources: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> file

    def destination_rule(self, host: str) -> DestinationRule | None:
        for dr in self.destination_rules:
            if short_host(dr.spec.host) == short_host(host):
                return dr
        return None


_FIXES = {
    ("route", "match"): "move 'match' up to the http[] rule; a route destination has only destination, weight "
                        "and headers (without strict validation the match is dropped and the destination gets "
                        "its share unconditionally)",
    ("subsets", "weight"): "subsets have only name, labels and trafficPolicy; put weights on the VirtualService's "
                           "http[].route[].weight",
}


def _refine(d: Diagnostic, loc: tuple) -> Diagnostic:
    names = [p for p in loc if isinstance(p, str)]
    for (parent, child), fix in _FIXES.items():
        if len(names) >= 2 and names[-1] == child and parent in names[:-1] and d.message.startswith("unknown field"):
            return Diagnostic(d.severity, d.file, d.message, d.field, d.object, fix, d.line)
    return d


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()))
        else:
            out.append(p)
    return out


def _deprecations(obj: VirtualService | DestinationRule, src: Source) -> list[Diagnostic]:
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
            for key in ("redirect", "directResponse", "delegate", "rewrite", "corsPolicy"):
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


def mesh_diagnostics(paths: list[Path]) -> tuple[MeshConfig, list[Diagnostic]]:
    """Parse every VirtualService/DestinationRule under `paths`; return the
    config of the valid objects and every diagnostic (errors and warnings)."""
    config = MeshConfig()
    diags: list[Diagnostic] = []
    seen: dict[tuple[str, str, str], str] = {}
    for path in _files(paths):
        file = str(path)
        config.files.append(file)
        try:
            docs = list(load_documents(path.read_text()))
        except (OSError, UnicodeDecodeError) as exc:
            diags.append(Diagnostic("error", file, f"cannot read the file: {exc}", fix="check the path"))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            diags.append(Diagnostic("error", file, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                    line=mark.line + 1 if mark else None, fix="correct the YAML syntax"))
            continue
        for doc in docs:
            data = doc.data
            if data is None:
                continue
            if not isinstance(data, dict):
                diags.append(Diagnostic("error", file, "a document must be a mapping with apiVersion, kind, "
                                        "metadata and spec", line=doc.line(()), fix="check the indentation"))
                continue
            api, kind = str(data.get("apiVersion", "")), data.get("kind")
            if not api.startswith(API_GROUP + "/"):
                continue  # other resources (Deployments, Services...) may share the directory
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            name = f"{kind}/{meta.get('name', '?')}"
            if kind == "Gateway":
                continue  # the ingress listener itself; the local gateway process plays its part
            if kind not in ("VirtualService", "DestinationRule"):
                diags.append(Diagnostic("warning", file, f"{kind} is not emulated by the local proxy", object=name,
                                        line=doc.line(()), fix="the local stack reads VirtualService and "
                                        "DestinationRule only"))
                continue
            if api != MODERN_VERSION and api not in OLD_VERSIONS:
                diags.append(Diagnostic("error", file, f"unknown apiVersion {api}", field="apiVersion", object=name,
                                        line=doc.line(("apiVersion",)), fix=f"use {MODERN_VERSION}"))
                continue
            model = VirtualService if kind == "VirtualService" else DestinationRule
            try:
                obj = model.model_validate(data)
            except ValidationError as exc:
                for d, e in zip(from_validation_error(exc, file, object=name, locate=doc.line),
                                exc.errors(include_url=False)):
                    diags.append(_refine(d, tuple(e["loc"])))
                continue
            key = (kind, obj.metadata.namespace or "", obj.metadata.name)
            if key in seen:
                diags.append(Diagnostic("error", file, f"duplicate {kind} name '{obj.metadata.name}' (first in "
                                        f"{seen[key]})", field="metadata.name", object=name,
                                        line=doc.line(("metadata", "name")), fix="give each object its own name"))
                continue
            seen[key] = file
            config.sources[(kind, obj.metadata.name)] = file
            src = Source(file, doc)
            diags.extend(_deprecations(obj, src))
            if isinstance(obj, VirtualService):
                config.virtual_services.append(obj)
            else:
                config.destination_rules.append(obj)
    hosts: dict[str, str] = {}
    for dr in config.destination_rules:
        h = short_host(dr.spec.host)
        if h in hosts:
            diags.append(Diagnostic("warning", config.sources.get(("DestinationRule", dr.metadata.name), ""),
                                    f"DestinationRules {hosts[h]} and {dr.metadata.name} both set host "
                                    f"{h}; Istio uses the oldest", object=f"DestinationRule/{dr.metadata.name}",
                                    fix="merge them into one"))
        hosts[h] = dr.metadata.name
    config.warnings = [d for d in diags if d.severity == "warning"]
    return config, diags


def load_mesh_config(paths: list[Path]) -> MeshConfig:
    """The valid config, or ConfigError naming every error (file, object, field, fix)."""
    if not _files(paths):
        raise ConfigError(Diagnostic("error", ", ".join(map(str, paths)), "no YAML files found",
                                     fix="pass a directory holding VirtualService/DestinationRule YAML"))
    config, diags = mesh_diagnostics(paths)
    errors = errors_only(diags)
    if errors:
        raise ConfigError(errors)
    return config


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
