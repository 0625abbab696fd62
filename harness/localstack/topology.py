"""The local stack's topology file (`reference-stack/local/topology.yaml`).

Typed models of regions, Services, Deployments and HPAs, and `load_topology`,
which refuses a bad file with one line per problem (file, field, fix) before
anything starts.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.diagnostics import ConfigError, Diagnostic, from_validation_error
from harness.durations import parse_duration
from harness.istio.registry import ServiceRegistry
from harness.localstack.engine.params import EngineParams
from harness.selectors import LabelSelector
from harness.yamlsource import load_documents, parse_field_path

__all__ = [
    "Deployment",
    "HPA",
    "HPABehavior",
    "ReadinessProbe",
    "RestartBackoff",
    "ScalingRules",
    "Service",
    "Topology",
    "DEFAULT_TOPOLOGY",
    "load_topology",
    "topology_diagnostics",
    "topology_registry",
]

DEFAULT_TOPOLOGY = Path(__file__).resolve().parents[2] / "reference-stack" / "local" / "topology.yaml"

Seconds = Annotated[float, BeforeValidator(parse_duration)]
# Gauges an HPA may target: the queue-length family that production stacks scale on.
HPAMetric = Literal["vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc"]
REQUIRED_LABELS = ("app", "model", "version")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Service(_Model):
    """A Kubernetes Service: a name Istio hosts resolve to, selecting pods by labels."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    selector: dict[str, str]
    port: int = Field(8000, gt=0, lt=65536)


class ReadinessProbe(_Model):
    """How the orchestrator probes `/health`, as a kubelet readiness probe would."""

    period: Seconds = 1.0
    timeout: Seconds = 1.0
    failure_threshold: int = Field(3, alias="failureThreshold", ge=1)


class RestartBackoff(_Model):
    """CrashLoopBackOff: Kubernetes uses 10 s doubling to 5 min; locally shorter by default."""

    base: Seconds = 1.0
    max: Seconds = 30.0
    reset_after: Seconds = Field(60.0, alias="resetAfter")


class Deployment(_Model):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    region: str
    replicas: int = Field(1, ge=0, le=32)
    labels: dict[str, str]
    startup_delay: Seconds = Field(0.0, alias="startupDelay")
    engine: EngineParams = Field(default_factory=lambda: EngineParams.model_validate({}))

    def pod_labels(self, namespace: str) -> dict[str, str]:
        """Labels every pod of this deployment carries (region added as Kubernetes nodes would)."""
        return {**self.labels, "region": self.region, "topology.kubernetes.io/region": self.region}


class ScalingRules(_Model):
    stabilization_window: Seconds = Field(alias="stabilizationWindow")
    # autoscaling/v2 `selectPolicy`: Disabled turns this direction off (the
    # default policies are modelled, not custom ones, so Max and Min act alike)
    select_policy: Literal["Max", "Min", "Disabled"] = Field("Max", alias="selectPolicy")


class HPABehavior(_Model):
    # Kubernetes defaults: scale up at once, scale down on the max of the last 5 minutes.
    scale_up: ScalingRules = Field(
        default_factory=lambda: ScalingRules.model_validate({"stabilizationWindow": 0}), alias="scaleUp"
    )
    scale_down: ScalingRules = Field(
        default_factory=lambda: ScalingRules.model_validate({"stabilizationWindow": 300}), alias="scaleDown"
    )


class HPA(_Model):
    name: str
    deployment: str
    min_replicas: int = Field(1, alias="minReplicas", ge=1)
    max_replicas: int = Field(alias="maxReplicas", ge=1, le=32)
    metric: HPAMetric = "vllm:num_requests_waiting"
    target_average_value: float = Field(alias="targetAverageValue", gt=0)
    tolerance: float = Field(0.1, ge=0, lt=1)
    sync_period: Seconds = Field(15.0, alias="syncPeriod")
    behavior: HPABehavior = Field(default_factory=HPABehavior)

    @model_validator(mode="after")
    def _bounds(self) -> HPA:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) is above maxReplicas ({self.max_replicas})")
        return self


class Topology(_Model):
    api_version: Literal["harness.llm-mesh.dev/v1"] = Field(alias="apiVersion")
    kind: Literal["LocalTopology"]
    namespace: str = "llm"
    gateway_region: str = Field(alias="gatewayRegion")
    regions: list[str] = Field(min_length=1)
    services: list[Service] = Field(default_factory=list)
    deployments: list[Deployment] = Field(min_length=1)
    hpas: list[HPA] = Field(default_factory=list)
    readiness_probe: ReadinessProbe = Field(default_factory=lambda: ReadinessProbe.model_validate({}), alias="readinessProbe")
    restart_backoff: RestartBackoff = Field(default_factory=lambda: RestartBackoff.model_validate({}), alias="restartBackoff")
    # Pods in the gateway's region have an Istio sidecar: an engine that refuses
    # or resets a connection shows the gateway the sidecar's 503 (false: no sidecars)
    sidecars: bool = True
    # the Istio release whose version-dependent defaults the local mesh follows
    istio_version: str = Field("1.30", alias="istioVersion")

    @field_validator("istio_version")
    @classmethod
    def _istio_version(cls, v: str) -> str:
        if not re.fullmatch(r"1\.\d+", v):
            raise ValueError(f"istioVersion is '1.<minor>', e.g. '1.30', not {v!r}")
        return v

    def deployment(self, name: str) -> Deployment:
        for d in self.deployments:
            if d.name == name:
                return d
        raise KeyError(name)


def topology_diagnostics(topology: Topology, file: str) -> list[Diagnostic]:
    """Cross-field checks pydantic cannot express per field."""
    out: list[Diagnostic] = []

    def dup(kind: str, names: list[str]) -> None:
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n in seen:
                out.append(
                    Diagnostic("error", file, f"duplicate {kind} name '{n}'", field=f"{kind}s[{i}].name",
                               fix="give every entry a unique name")
                )
            seen.add(n)

    dup("region", topology.regions)
    dup("service", [s.name for s in topology.services])
    dup("deployment", [d.name for d in topology.deployments])
    dup("hpa", [h.name for h in topology.hpas])
    regions = set(topology.regions)
    if topology.gateway_region not in regions:
        out.append(Diagnostic("error", file, f"gatewayRegion '{topology.gateway_region}' is not a declared region",
                              field="gatewayRegion", fix=f"use one of {sorted(regions)}"))
    for i, d in enumerate(topology.deployments):
        if d.region not in regions:
            out.append(Diagnostic("error", file, f"region '{d.region}' is not declared in 'regions'",
                                  field=f"deployments[{i}].region", fix=f"use one of {sorted(regions)} or declare it"))
        for key in REQUIRED_LABELS:
            if key not in d.labels:
                out.append(Diagnostic("error", file, f"label '{key}' is missing", field=f"deployments[{i}].labels",
                                      fix=f"add '{key}: ...' (pods are selected by app, model and version)"))
        if "region" in d.labels and d.labels["region"] != d.region:
            out.append(Diagnostic("error", file, f"label region={d.labels['region']} contradicts region {d.region}",
                                  field=f"deployments[{i}].labels.region", fix="drop the label; it is set from 'region'"))
    names = {d.name for d in topology.deployments}
    for i, h in enumerate(topology.hpas):
        if h.deployment not in names:
            out.append(Diagnostic("error", file, f"HPA '{h.name}' targets deployment '{h.deployment}', which does not exist",
                                  field=f"hpas[{i}].deployment", fix=f"name one of the deployments: {', '.join(sorted(names))}"))
    for i, s in enumerate(topology.services):
        if not any(LabelSelector.from_labels(s.selector).matches(d.pod_labels(topology.namespace))
                   for d in topology.deployments):
            out.append(Diagnostic("error", file, f"Service '{s.name}' selects no deployment's pods",
                                  field=f"services[{i}].selector", fix="match the labels of at least one deployment"))
    return out


def topology_registry(topology: Topology) -> ServiceRegistry:
    """The Services and pods Istio routes may name in the local stack."""
    ns = topology.namespace
    return ServiceRegistry.of({(ns, s.name): s.selector for s in topology.services},
                              [d.pod_labels(ns) for d in topology.deployments], ns, "the topology")


def load_topology(path: Path | str | None = None) -> Topology:
    """Read and validate a topology file; raise ConfigError listing every problem."""
    path = Path(path) if path is not None else DEFAULT_TOPOLOGY
    file = str(path)
    try:
        docs = list(load_documents(path.read_text()))
    except FileNotFoundError:
        raise ConfigError(Diagnostic("error", file, "topology file not found",
                                     fix="pass --topology with an existing file")) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(Diagnostic("error", file, f"{where}invalid YAML: {problem}",
                                     fix="fix the YAML syntax")) from None
    raw = docs[0].data if len(docs) == 1 else None
    if not isinstance(raw, dict):
        raise ConfigError(Diagnostic("error", file, "expected a mapping with apiVersion, kind, regions, deployments",
                                     fix="start from reference-stack/local/topology.yaml"))
    try:
        topology = Topology.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(from_validation_error(exc, file, locate=docs[0].line)) from None
    problems = topology_diagnostics(topology, file)
    if problems:
        raise ConfigError([
            replace(d, line=docs[0].line(parse_field_path(d.field))) if d.field else d for d in problems
        ])
    return topology
