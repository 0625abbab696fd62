"""GPU OOM under load: one us-east v1 engine of the standard pool runs out of
CUDA memory while chat traffic streams. As vLLM does, the dead engine answers
every request with a 500 (EngineDeadError) until its process exits and the pod
restarts it, and its /health fails; the kubelet's readiness probe (every 5 s,
unready after 3 failures) takes up to 15 s to notice, longer than the engine
takes to exit.

The promises, each judged on the load's records:
- outlier detection (consecutive5xxErrors on the llm-chat DestinationRule)
  ejects the dead engine after a handful of 500s, which streaming chat does not
  retry, and the rest of the pool serves: the requests that start after the
  OOM fail no more than the budget. Without outlier detection, every request
  the balancer gives the dead engine fails until it exits;
- the engine restarts and its pod is ready again within the recovery SLO.

Streams in flight on the engine at the moment of the OOM are lost by nature:
they are reported, not judged. The failures are not independent draws (they
are the dead engine's until it is ejected), so the budget is a count."""

from __future__ import annotations

from typing import Any

from harness.certify.context import RunContext
from harness.certify.requirement import BrokenMesh, Requirement, Threshold
from harness.certify.requirements._resilience import fault_under_load, load_summary, wait_restarted
from harness.certify.requirements.outlier_ejection import without_outlier_detection
from harness.chaos.actions import gpu_oom
from harness.verdict import Check

SELECTOR = "app=llm-chat,version=v1,pool=standard,region=us-east"
USERS = 12
MIN_REQUESTS_AFTER = 60


def run(ctx: RunContext) -> list[Check]:
    rid = REQUIREMENT.id
    before = {p.name: p.restarts for p in ctx.target.list_pods(SELECTOR)}
    with fault_under_load(ctx, "chat_stream", USERS, ctx.timeout("load"), ctx.timeout("warmup")) as (run, _):
        injected = gpu_oom(SELECTOR, count=1, exit_after_s=ctx.timeout("dead"), configuration=ctx.chaos_configuration)
        victims = {name: before[name] for name in injected["pods"] if name in before}
        recovered = wait_restarted(ctx, SELECTOR, victims, run.fault_start, ctx.timeout("recover"))
    ctx.mark("engine restarted and ready", None if recovered is None else run.fault_start + recovered)
    after = run.records[run.records["t"] > run.fault_start + ctx.timeout("in_flight")]
    failed = after[~after["ok"].astype(bool)]
    ctx.evidence.json("load", {**load_summary(run), "victims": sorted(victims), "recovered_after_s": recovered,
                               "failed_after": len(failed), "errors_after": _errors(failed)})
    return [
        Check.judge(rid, "failed requests started after the OOM", float(len(failed)) if len(after) else None, "<=",
                    ctx.threshold("failures"), " requests", samples=len(after), min_samples=MIN_REQUESTS_AFTER,
                    evidence=run.evidence),
        Check.judge(rid, "time until the engine is back and ready", recovered, "<=", ctx.threshold("recover"), "s",
                    evidence=run.evidence),
    ]


def _errors(failed: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in failed["error"].fillna(failed["status"].astype(str)).value_counts().items()}


REQUIREMENT = Requirement(
    id="resilience.gpu-oom",
    title="GPU OOM under load: the dead engine is ejected after a handful of errors and is back within the SLO",
    feature="resilience",
    kind="resilience",
    profiles=frozenset({"full"}),
    observes=("ready-replicas", "fault-window"),
    # the reference lets through consecutive5xxErrors (5) of the dead engine's
    # 500s before it ejects it, plus those already on their way
    thresholds={"failures": Threshold(10.0, "requests"),
                "recover": Threshold(30.0, "s", slo="chat.max_time_to_recover")},
    timeouts={"load": 30.0, "warmup": 6.0, "dead": 12.0, "recover": 60.0, "in_flight": 0.5},
    broken=BrokenMesh("outlierDetection removed from llm-chat (the dead engine keeps its share until it exits)",
                      kind="DestinationRule", name="llm-chat", rewrite=without_outlier_detection),
    run=run,
    peak_streams=USERS,
    why_not_smoke="a 12 s dead engine under 30 s of load",
    weight=3,
)
