"""Queue-driven autoscaling under load: streaming chat users enough to make
the primary pool's engines queue (vllm:num_requests_waiting above the HPA's
target), held until the HPA has scaled and its new pods are ready (or a
timeout), then released; the HPA's status and the pool's ready pods are
sampled all along and until the HPA is back at its minimum.

The HPA is read and its figures taken from the target (`Target.get_hpa`, an
autoscaling/v2 object on both targets), so a broken variant that rewrites it
is judged by what the target actually runs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from kubernetes.utils import parse_quantity

from harness.analysis.autoscaling import SAMPLE_COLUMNS, above_target, first_time
from harness.certify.context import RunContext
from harness.certify.traffic import Probe, send
from harness.targets.base import TargetError

__all__ = ["HPA", "STREAMS", "HpaFigures", "ScaleRun", "queue_load"]

HPA = "chat-v1"  # the same name on both targets
POOL = "app=llm-chat,version=v1,pool=standard"  # its pods (and the other regions' v1 pods, which stay as they are)
# Streams held open at once: 80 % of the catch-all reaches v1, and in the
# primary region its two engines run 16 sequences each (the local topology),
# so 64 streams leave about 9 waiting per engine against a target of 5.
STREAMS = 64
MAX_TOKENS = 150
SAMPLE_EVERY_S = 0.5
# the load goes on this long once the added pods are ready, so the grown pool serves it
HOLD_S = 10.0


@dataclass(frozen=True)
class HpaFigures:
    min_replicas: int
    max_replicas: int
    target: float
    scale_down_window_s: float
    deployment: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> HpaFigures:
        spec = obj.get("spec", {})
        metric = (spec.get("metrics") or [{}])[0]
        window = (((spec.get("behavior") or {}).get("scaleDown") or {}).get("stabilizationWindowSeconds", 300))
        return cls(int(spec.get("minReplicas", 1)), int(spec["maxReplicas"]),
                   float(parse_quantity(metric["pods"]["target"]["averageValue"])),  # type: ignore[no-untyped-call]
                   float(window), spec["scaleTargetRef"]["name"])


@dataclass
class ScaleRun:
    hpa: HpaFigures
    records: pd.DataFrame
    samples: pd.DataFrame  # harness.analysis.autoscaling.SAMPLE_COLUMNS
    ready_before: int
    evidence: tuple[str, ...]

    @property
    def over(self) -> pd.Series:
        return above_target(self.samples, self.hpa.target)

    @property
    def first_over(self) -> float | None:
        return first_time(self.samples, self.over)

    @property
    def first_scaled(self) -> float | None:
        return first_time(self.samples, self.samples["desired"] > self.hpa.min_replicas)


def _average(obj: dict[str, Any]) -> float:
    for m in (obj.get("status") or {}).get("currentMetrics") or []:
        value = ((m.get("pods") or {}).get("current") or {}).get("averageValue")
        if value is not None:
            return float(parse_quantity(value))  # type: ignore[no-untyped-call]
    return float("nan")


def _sample(ctx: RunContext) -> dict[str, float]:
    obj = ctx.target.get_hpa(HPA)
    status = obj.get("status") or {}
    try:
        ready = sum(p.ready for p in ctx.target.list_pods(POOL))
    except TargetError:
        ready = 0
    return {"t": time.time(), "desired": float(status.get("desiredReplicas") or 0),
            "current": float(status.get("currentReplicas") or 0), "average": _average(obj), "ready": float(ready)}


def queue_load(ctx: RunContext) -> ScaleRun:
    """Drive the queue up, hold until scaled and ready plus `HOLD_S` (at most
    the timeout `scale_up`), release, and watch until the HPA is back at its minimum (timeout: its
    scale-down stabilization window plus `settle`). Leaves the pool at its minimum: when the HPA did not bring it
    back (a broken scale-down), the deployment is scaled back, as a rollback."""
    hpa = HpaFigures.of(ctx.target.get_hpa(HPA))
    ready_before = sum(p.ready for p in ctx.target.list_pods(POOL))
    probes = [Probe(stream=True, max_tokens=MAX_TOKENS, headers={"x-user-id": f"hpa-user-{i % STREAMS}"})
              for i in range(STREAMS * 200)]
    stop = threading.Event()
    out: list[pd.DataFrame] = []
    load = threading.Thread(target=lambda: out.append(send(ctx.gateway, probes, concurrency=STREAMS,
                                                          timeout_s=ctx.timeout("client"), stop=stop)),
                            name="hpa-load", daemon=True)
    samples: list[dict[str, float]] = []
    load.start()
    try:
        deadline = time.monotonic() + ctx.timeout("scale_up")
        while time.monotonic() < deadline and load.is_alive():
            samples.append(_sample(ctx))
            last = samples[-1]
            if last["desired"] > hpa.min_replicas and last["ready"] >= ready_before + last["desired"] - hpa.min_replicas:
                deadline = min(deadline, time.monotonic() + HOLD_S)
            time.sleep(SAMPLE_EVERY_S)
    finally:
        stop.set()
        load.join(ctx.timeout("client") + 10.0)
    deadline = time.monotonic() + hpa.scale_down_window_s + ctx.timeout("settle")
    settled = False
    while time.monotonic() < deadline:
        samples.append(_sample(ctx))
        if samples[-1]["desired"] <= hpa.min_replicas and samples[-1]["ready"] <= ready_before:
            settled = True
            break
        time.sleep(SAMPLE_EVERY_S)
    if not settled:
        ctx.target.scale(hpa.deployment, hpa.min_replicas)
    records = out[0] if out else pd.DataFrame()
    frame = pd.DataFrame(samples, columns=list(SAMPLE_COLUMNS))
    evidence = (ctx.evidence.records("records", records), ctx.evidence.records("hpa-samples", frame))
    ctx.mark("queue above target", first_time(frame, above_target(frame, hpa.target)))
    ctx.mark("scaled up", first_time(frame, frame["desired"] > hpa.min_replicas))
    return ScaleRun(hpa, records, frame, ready_before, evidence)
