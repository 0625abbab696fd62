"""The rule catalogue: every check on Istio objects has an id, one severity and
the Istio behaviour it protects against, declared once here and listed in
docs/istio-rules.md. A check reports through its rule, so the same problem is
judged the same way by every caller (the local mesh's start-up check and
`harness validate` on plain Istio directories or Kubernetes manifests).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.diagnostics import Diagnostic, Severity

__all__ = ["RULES", "Rule"]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    checks: str  # what the rule looks at
    protects: str  # the Istio behaviour a user would otherwise meet on a cluster

    def report(self, file: str, message: str, *, object: str | None = None, field: str | None = None,
               fix: str | None = None, line: int | None = None) -> Diagnostic:
        return Diagnostic(self.severity, file, message, field=field, object=object, fix=fix, line=line,
                          rule=self.id)


RULES: dict[str, Rule] = {}


def _rule(id: str, severity: Severity, checks: str, protects: str) -> Rule:
    RULES[id] = Rule(id, severity, checks, protects)
    return RULES[id]


# -- reading the files ----------------------------------------------------------
YAML_SYNTAX = _rule(
    "yaml-syntax", "error", "the file parses as YAML and each document is a mapping",
    "kubectl apply refuses the whole file")
UNKNOWN_API_VERSION = _rule(
    "unknown-api-version", "error", "the apiVersion is one the Istio API serves (v1, v1beta1, v1alpha3)",
    "the API server has no such resource version and refuses the object")
SCHEMA = _rule(
    "schema", "error", "every field as the v1 API defines it: no unknown fields, types, ranges, RE2 regexes, "
    "durations, one-of fields, several route weights not all 0, unique subset names",
    "Istio's validating webhook rejects the object (or, without strict validation, drops the unknown field "
    "and serves something else)")
DUPLICATE_NAME = _rule(
    "duplicate-name", "error", "no two objects of one kind share a name in one namespace",
    "the second apply overwrites the first; one of the two silently disappears")
KIND_NOT_EMULATED = _rule(
    "kind-not-emulated", "warning", "the kind is one the harness reads (VirtualService, DestinationRule, "
    "ServiceEntry; Gateway is played by the local gateway)",
    "a local run would pass without the object's effect, which a cluster applies")

# -- one object at a time -------------------------------------------------------
DEPRECATED_API_VERSION = _rule(
    "deprecated-api-version", "warning", "the object uses networking.istio.io/v1",
    "v1alpha3 / v1beta1 are deprecated and will stop being served")
DEPRECATED_FIELD = _rule(
    "deprecated-field", "warning", "no deprecated field: mirrorPercent, fault.delay.percent, "
    "outlierDetection.consecutiveErrors, LEAST_CONN, consistentHash.minimumRingSize, warmupDurationSecs",
    "deprecated fields are ignored or reinterpreted (consecutiveErrors is ignored: Envoy's default of 5 "
    "consecutive 5xx applies)")
NOT_EMULATED = _rule(
    "not-emulated", "warning", "no setting the local proxy ignores: delegate, rewrite, corsPolicy, tcp/tls "
    "routes, portLevelSettings, ServiceEntry (the local proxy reaches no external host)",
    "the setting is valid Istio and applies on a cluster; a local run would not show it")
FAILOVER_WITHOUT_OUTLIER_DETECTION = _rule(
    "failover-without-outlier-detection", "warning", "a traffic policy with locality failover also has "
    "outlierDetection (its own or the rule's)",
    "Istio does not apply locality failover without outlier detection: traffic never leaves a failed region")
ROUTE_WEIGHTS_NOT_100 = _rule(
    "route-weights-not-100", "warning", "the weights of a route with several destinations add up to 100",
    "Istio accepts any sum and reads weights as relative shares; a sum other than 100 is easy to misread")
TIMEOUT_SHORTER_THAN_RETRIES = _rule(
    "timeout-shorter-than-retries", "warning", "a route's timeout leaves room for every try "
    "((attempts + 1) x perTryTimeout)",
    "the route timeout bounds all tries together: the later retries can never complete")

# -- across objects -------------------------------------------------------------
DESTINATION_RULE_CONFLICT = _rule(
    "destination-rule-conflict", "warning", "one DestinationRule per host and namespace (without "
    "workloadSelector)",
    "Istio merges them: subsets are combined, but only the oldest rule's trafficPolicy applies")
UNKNOWN_HOST = _rule(
    "unknown-host", "error", "a route or mirror destination is a known Service (topology or Kubernetes "
    "manifests, in the route's namespace unless qualified) or a ServiceEntry host; checked when Services are known",
    "Envoy has no cluster for the host: requests get 503 (NR / no healthy upstream); istioctl analyze IST0101")
UNDECLARED_SUBSET = _rule(
    "undeclared-subset", "error", "a route or mirror subset is declared by the DestinationRule that applies "
    "to the host from the route's namespace (its own namespace's, else the host's, else the root namespace "
    "istio-system's)",
    "Envoy has no cluster for the subset: every request routed there gets 503; istioctl analyze IST0101")
SUBSET_SELECTS_NO_PODS = _rule(
    "subset-selects-no-pods", "error", "a subset's labels (with its Service's selector) match the pods of some "
    "workload; checked when workloads are known",
    "the subset's cluster has no endpoints: 503 no healthy upstream")
