"""`networking.istio.io/v1` VirtualService, field for field (extra fields are
errors). Deprecated forms are accepted here; the lint rules report them."""

from __future__ import annotations

from typing import Any, Literal

import re2
from pydantic import Field, field_validator, model_validator

from harness.istio.base import IstioModel, ObjectMeta, check_duration

__all__ = ["StringMatch", "PortSelector", "Destination", "HeaderOperations", "Headers", "HTTPRouteDestination",
           "HTTPMatchRequest", "Percent", "HTTPRetry", "FaultDelay", "FaultAbort", "HTTPFaultInjection",
           "HTTPMirrorPolicy", "HTTPRedirect", "HTTPBody", "HTTPDirectResponse", "HTTPRoute", "VirtualServiceSpec", "VirtualService"]

class StringMatch(IstioModel):
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


class PortSelector(IstioModel):
    number: int = Field(ge=1, le=65535)


class Destination(IstioModel):
    host: str
    subset: str | None = None
    port: PortSelector | None = None


class HeaderOperations(IstioModel):
    set: dict[str, str] | None = None
    add: dict[str, str] | None = None
    remove: list[str] | None = None


class Headers(IstioModel):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPRouteDestination(IstioModel):
    destination: Destination
    weight: int = Field(0, ge=0)
    headers: Headers | None = None


class HTTPMatchRequest(IstioModel):
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


class Percent(IstioModel):
    value: float = Field(ge=0, le=100)


class HTTPRetry(IstioModel):
    attempts: int = Field(0, ge=0)
    perTryTimeout: str | None = None
    retryOn: str | None = None
    retryRemoteLocalities: bool | None = None
    retryIgnorePreviousHosts: bool | None = None
    backoff: str | None = None

    _durations = field_validator("perTryTimeout", "backoff", mode="before")(check_duration)


class FaultDelay(IstioModel):
    fixedDelay: str
    percentage: Percent | None = None
    percent: int | None = Field(None, ge=0, le=100)  # deprecated

    _durations = field_validator("fixedDelay", mode="before")(check_duration)


class FaultAbort(IstioModel):
    httpStatus: int | None = Field(None, ge=200, le=599)
    grpcStatus: str | None = None
    percentage: Percent | None = None

    @model_validator(mode="after")
    def _status(self) -> FaultAbort:
        if self.httpStatus is None and self.grpcStatus is None:
            raise ValueError("an abort needs httpStatus (or grpcStatus)")
        return self


class HTTPFaultInjection(IstioModel):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class HTTPMirrorPolicy(IstioModel):
    destination: Destination
    percentage: Percent | None = None


REDIRECT_CODES = (301, 302, 303, 307, 308)  # the codes pilot's ApplyRedirect translates


class HTTPRedirect(IstioModel):
    uri: str | None = None
    authority: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    derivePort: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    scheme: str | None = None
    redirectCode: int | None = None

    @model_validator(mode="after")
    def _valid(self) -> HTTPRedirect:
        if self.redirectCode not in (None, 0, *REDIRECT_CODES):
            raise ValueError(f"redirectCode {self.redirectCode} is not one Istio translates; "
                             f"use one of {', '.join(map(str, REDIRECT_CODES))}")
        if self.port is not None and self.derivePort is not None:
            raise ValueError("use either 'port' or 'derivePort', not both")
        if not (self.uri or self.authority or self.scheme or self.port or self.derivePort):
            raise ValueError("a redirect needs uri, authority, scheme or port")
        if self.scheme not in (None, "http", "https"):
            raise ValueError("a redirect's scheme is 'http' or 'https'")
        return self


class HTTPBody(IstioModel):
    string: str | None = None
    bytes_: str | None = Field(None, alias="bytes")  # base64, as protobuf JSON carries bytes


class HTTPDirectResponse(IstioModel):
    status: int = Field(ge=200, le=599)
    body: HTTPBody | None = None


class HTTPRoute(IstioModel):
    name: str | None = None
    match: list[HTTPMatchRequest] | None = None
    route: list[HTTPRouteDestination] | None = None
    redirect: HTTPRedirect | None = None
    directResponse: HTTPDirectResponse | None = None
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

    _durations = field_validator("timeout", mode="before")(check_duration)

    @model_validator(mode="after")
    def _targets(self) -> HTTPRoute:
        if not (self.route or self.redirect or self.directResponse or self.delegate):
            raise ValueError("an http route needs 'route' (or redirect / directResponse / delegate)")
        # Istio's validateHTTPRoute: a redirect or direct response stands alone
        for local in ("redirect", "directResponse"):
            if getattr(self, local) is not None:
                clash = [k for k in ("route", "fault", "rewrite", "redirect", "directResponse")
                         if k != local and getattr(self, k)]
                if clash:
                    raise ValueError(f"a rule with '{local}' cannot also have '{clash[0]}'")
        if self.route and len(self.route) > 1 and sum(d.weight for d in self.route) == 0:
            raise ValueError("route weights sum to 0; give each destination a weight")
        if self.mirror is not None and self.mirrors:
            raise ValueError("use either 'mirror' or 'mirrors', not both")
        return self


class VirtualServiceSpec(IstioModel):
    hosts: list[str] = Field(min_length=1)
    gateways: list[str] | None = None
    http: list[HTTPRoute] | None = None
    tls: list[dict[str, Any]] | None = None
    tcp: list[dict[str, Any]] | None = None
    exportTo: list[str] | None = None


class VirtualService(IstioModel):
    apiVersion: str
    kind: Literal["VirtualService"]
    metadata: ObjectMeta
    spec: VirtualServiceSpec
    status: dict[str, Any] | None = None

