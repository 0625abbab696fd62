"""Faults an engine can be told to have, through its local admin endpoint.

Each fault is clearable; `FaultSet` holds the active ones and answers the
questions the request path asks ("should this request fail?").
"""

from __future__ import annotations

import random
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = ["GpuOom", "Crash", "Hang", "Slow", "ErrorRate", "Fault", "FAULT_ADAPTER", "FaultSet",
           "CUDA_OOM_MESSAGE", "ENGINE_DEAD_MESSAGE"]

CUDA_OOM_MESSAGE = ("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.15 GiB "
                    "of which 1.06 GiB is free.")
ENGINE_DEAD_MESSAGE = "EngineCore encountered an issue. See stack trace (above) for the root cause."


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GpuOom(_Fault):
    kind: Literal["gpu_oom"]
    exit_after_s: float = Field(5.0, ge=0, description="vLLM's watchdog ends the process within about 5 s")


class Crash(_Fault):
    kind: Literal["crash"]
    exit_code: int = Field(137, ge=1, le=255)


class Hang(_Fault):
    kind: Literal["hang"]


class Slow(_Fault):
    kind: Literal["slow"]
    factor: float = Field(3.0, gt=0)


class ErrorRate(_Fault):
    kind: Literal["error_rate"]
    rate: float = Field(0.5, ge=0, le=1)
    status: Literal[500, 503] = 503


Fault = Annotated[GpuOom | Crash | Hang | Slow | ErrorRate, Field(discriminator="kind")]
FAULT_ADAPTER: TypeAdapter[Fault] = TypeAdapter(Fault)


class FaultSet:
    def __init__(self, seed: int = 0) -> None:
        self.active: dict[str, _Fault] = {}
        self._rng = random.Random(seed)

    def set(self, fault: _Fault) -> None:
        self.active[fault.kind] = fault  # type: ignore[attr-defined]

    def clear(self, kind: str | None = None, keep: frozenset[str] = frozenset()) -> list[str]:
        """Clear one kind or all; `keep` names kinds that stay whatever is asked."""
        kinds = list(self.active) if kind is None else [kind] if kind in self.active else []
        kinds = [k for k in kinds if k not in keep]
        for k in kinds:
            del self.active[k]
        return kinds

    @property
    def hanging(self) -> bool:
        return "hang" in self.active

    @property
    def slow_factor(self) -> float:
        f = self.active.get("slow")
        return f.factor if isinstance(f, Slow) else 1.0

    def injected_error(self) -> int | None:
        """The status to answer this request with, if the error-rate fault picks it."""
        f = self.active.get("error_rate")
        if isinstance(f, ErrorRate) and self._rng.random() < f.rate:
            return f.status
        return None

    def describe(self) -> dict[str, dict[str, Any]]:
        return {k: v.model_dump() for k, v in self.active.items()}
