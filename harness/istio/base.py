"""What every Istio kind shares: the strict model base, object metadata and
duration fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from harness.durations import parse_duration

__all__ = ["IstioModel", "ObjectMeta", "check_duration", "seconds"]


class IstioModel(BaseModel):
    """Extra fields are errors, as under the API server's strict validation."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ObjectMeta(IstioModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)
    name: str
    namespace: str | None = None


def check_duration(v: Any) -> Any:
    """A pydantic `before` validator for Istio duration strings ('10s', '250ms')."""
    if v is None:
        return v
    if not isinstance(v, str):
        raise ValueError("a duration is a string with a unit, e.g. '10s' or '250ms'")
    parse_duration(v)
    return v


def seconds(v: str | None, default: float | None = None) -> float | None:
    """A validated duration string in seconds (`default` when unset)."""
    return default if v is None else parse_duration(v)
