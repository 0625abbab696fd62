"""`networking.istio.io/v1` DestinationRule, field for field (extra fields are
errors). Deprecated forms are accepted here; the lint rules report them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from harness.istio.base import IstioModel, ObjectMeta, check_duration

__all__ = ["RingHash", "Maglev", "HTTPCookie", "ConsistentHashLB", "LocalityFailover", "LocalityDistribute",
           "LocalityLbSetting", "LoadBalancerSettings", "TCPSettings", "HTTPSettings", "ConnectionPoolSettings",
           "OutlierDetection", "TrafficPolicy", "Subset", "DestinationRuleSpec", "DestinationRule"]

class RingHash(IstioModel):
    minimumRingSize: int = Field(1024, ge=1)


class Maglev(IstioModel):
    tableSize: int = Field(65537, ge=1)


class HTTPCookie(IstioModel):
    name: str
    path: str | None = None
    ttl: str | None = None
    attributes: list[dict[str, Any]] | None = None


class ConsistentHashLB(IstioModel):
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


class LocalityFailover(IstioModel):
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


class LocalityDistribute(IstioModel):
    from_: str = Field(alias="from")
    to: dict[str, int]

    @model_validator(mode="after")
    def _weights(self) -> LocalityDistribute:
        if any(not 1 <= w <= 100 for w in self.to.values()) or sum(self.to.values()) != 100:
            raise ValueError("distribute 'to' weights are 1..100 and must sum to 100")
        return self


class LocalityLbSetting(IstioModel):
    enabled: bool | None = None
    distribute: list[LocalityDistribute] | None = None
    failover: list[LocalityFailover] | None = None
    failoverPriority: list[str] | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> LocalityLbSetting:
        if self.distribute and self.failover:
            raise ValueError("distribute and failover cannot be used together")
        return self


class LoadBalancerSettings(IstioModel):
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


class TCPSettings(IstioModel):
    maxConnections: int | None = Field(None, ge=0)
    connectTimeout: str | None = None
    tcpKeepalive: dict[str, Any] | None = None
    maxConnectionDuration: str | None = None
    idleTimeout: str | None = None

    _durations = field_validator("connectTimeout", "maxConnectionDuration", "idleTimeout", mode="before")(check_duration)


class HTTPSettings(IstioModel):
    http1MaxPendingRequests: int | None = Field(None, ge=0)
    http2MaxRequests: int | None = Field(None, ge=0)
    maxRequestsPerConnection: int | None = Field(None, ge=0)
    maxRetries: int | None = Field(None, ge=0)
    idleTimeout: str | None = None
    h2UpgradePolicy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    useClientProtocol: bool | None = None
    maxConcurrentStreams: int | None = None

    _durations = field_validator("idleTimeout", mode="before")(check_duration)


class ConnectionPoolSettings(IstioModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(IstioModel):
    splitExternalLocalOriginErrors: bool | None = None
    consecutiveLocalOriginFailures: int | None = None
    consecutiveGatewayErrors: int | None = Field(None, ge=0)
    consecutive5xxErrors: int | None = Field(None, ge=0)
    consecutiveErrors: int | None = None  # deprecated; pilot ignores it
    interval: str | None = None
    baseEjectionTime: str | None = None
    maxEjectionPercent: int | None = Field(None, ge=0, le=100)
    minHealthPercent: int | None = Field(None, ge=0, le=100)

    _durations = field_validator("interval", "baseEjectionTime", mode="before")(check_duration)


class TrafficPolicy(IstioModel):
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


class Subset(IstioModel):
    name: str
    labels: dict[str, str] | None = None
    trafficPolicy: TrafficPolicy | None = None


class DestinationRuleSpec(IstioModel):
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


class DestinationRule(IstioModel):
    apiVersion: str
    kind: Literal["DestinationRule"]
    metadata: ObjectMeta
    spec: DestinationRuleSpec
    status: dict[str, Any] | None = None

