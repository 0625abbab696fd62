"""SLO specs (`reference-stack/slo/*.yaml`, kind ServiceLevelObjectives):
per route / model / tier, the figures a certification holds the mesh to.

Units are part of the value so a threshold cannot be misread: durations carry
their unit (`800ms`, `15s`; a bare number is refused), shares are ratios in
[0, 1] or percentages (`99.5%`). A PromQL given for a figure computes the
same figure from Prometheus, the same query on both targets. Write its range
as `[$window]`: it becomes the check's own window (whole seconds), and the
query is evaluated at the window's end, so traffic from before the check
(another requirement's, a fault's) never enters the figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from harness.diagnostics import ConfigError, Diagnostic, from_validation_error
from harness.durations import parse_duration
from harness.yamlsource import load_documents

__all__ = ["SloSpec", "Objective", "load_slo", "promql_for_window", "DEFAULT_SLO", "SLO_KIND", "FIGURES",
           "WINDOW_VARIABLE"]

WINDOW_VARIABLE = "$window"


def promql_for_window(query: str, window_s: float) -> str:
    """`query` with each `$window` replaced by the window in whole seconds (at least 1)."""
    if not window_s > 0:
        raise ValueError(f"window_s must be positive, got {window_s!r}")
    return query.replace(WINDOW_VARIABLE, f"{max(1, round(window_s))}s")

SLO_KIND = "ServiceLevelObjectives"
DEFAULT_SLO = Path(__file__).resolve().parents[2] / "reference-stack" / "slo" / "reference.yaml"


def _duration(value: Any) -> float:
    if isinstance(value, bool) or isinstance(value, (int, float)):
        raise ValueError(f"{value!r} has no unit; write a duration such as '800ms' or '15s'")
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as '800ms', got {value!r}")
    return parse_duration(value)


def _ratio(value: Any) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            ratio = float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage; write e.g. '99.5%'") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        ratio = float(value)
    else:
        raise ValueError(f"expected a ratio such as 0.995 or '99.5%', got {value!r}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"{value!r} is not a share: write a ratio in [0, 1] such as 0.995, or '99.5%'")
    return ratio


Seconds = Annotated[float, BeforeValidator(_duration)]
Ratio = Annotated[float, BeforeValidator(_ratio)]

# figure name -> unit, as reported in verdicts
FIGURES: dict[str, str] = {
    "availability": "ratio", "ttft_p50": "s", "ttft_p95": "s", "ttft_p99": "s", "itl_p95": "s", "e2e_p95": "s",
    "max_time_to_failover": "s", "max_time_to_recover": "s", "max_fallback_share": "ratio",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class Objective(_Strict):
    """The promises for one slice of traffic."""

    name: str
    route: str | None = None  # VirtualService http rule name
    model: str | None = None
    tier: str | None = None
    availability: Ratio | None = None
    ttft_p50: Seconds | None = None
    ttft_p95: Seconds | None = None
    ttft_p99: Seconds | None = None
    itl_p95: Seconds | None = None
    e2e_p95: Seconds | None = Field(default=None, alias="e2eP95")
    max_time_to_failover: Seconds | None = None
    max_time_to_recover: Seconds | None = None
    max_fallback_share: Ratio | None = None
    promql: dict[Literal["availability", "ttftP50", "ttftP95", "ttftP99", "itlP95", "e2eP95"], str] = Field(
        default_factory=dict)

    def figure(self, name: str) -> float | None:
        value = getattr(self, name)
        return None if value is None else float(value)

    def query(self, name: str) -> str | None:
        """The PromQL given for figure `name` (snake_case, e.g. ttft_p95), if any."""
        wanted = to_camel(name).replace("E2e", "e2e")
        return next((q for key, q in self.promql.items() if key == wanted), None)


class _Metadata(_Strict):
    name: str


class SloSpec(_Strict):
    api_version: Literal["harness.llm-mesh.dev/v1"]
    kind: Literal["ServiceLevelObjectives"]
    metadata: _Metadata
    objectives: list[Objective] = Field(min_length=1)

    def objective(self, name: str) -> Objective | None:
        return next((o for o in self.objectives if o.name == name), None)


def load_slo(path: Path = DEFAULT_SLO) -> SloSpec:
    """Read and validate an SLO spec; ConfigError naming file, line, field and fix."""
    try:
        docs = list(load_documents(path.read_text()))
    except OSError as exc:
        raise ConfigError(Diagnostic("error", str(path), f"cannot read the SLO file: {exc.strerror}",
                                     fix="pass an existing file with --slo")) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(Diagnostic("error", str(path), f"invalid YAML: {getattr(exc, 'problem', exc)}",
                                     line=mark.line + 1 if mark else None, fix="correct the YAML syntax")) from None
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise ConfigError(Diagnostic("error", str(path), "expected one YAML mapping of kind ServiceLevelObjectives",
                                     fix="see reference-stack/slo/reference.yaml"))
    doc = docs[0]
    try:
        spec = SloSpec.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        raise ConfigError(from_validation_error(exc, str(path), object=f"{SLO_KIND}", locate=doc.line)) from None
    names = [o.name for o in spec.objectives]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(Diagnostic("error", str(path), f"objective {name!r} is defined twice",
                                         field=f"objectives[{i}].name", line=doc.line(("objectives", i, "name")),
                                         fix="give each objective a unique name"))
    return spec
