"""Chaos actions: plain functions with typed arguments, usable as Chaos
Toolkit `python` providers (module `harness.chaos.actions`) and from Python
(see `harness.chaos.faults` for context managers that always roll back).

Each action picks its victims (guards: namespace allowed, blast radius),
then hands a `FaultPlan` to the one template (`template.apply_fault`):
journal first, act, confirm. `rollback_all` undoes every journaled fault not
yet undone; experiments name it in `rollbacks`, and `harness chaos run`
calls it whatever happens.

Configuration keys (the experiment's `configuration` block):
`harness_target` (`local` | `kube`), `harness_stack`, `harness_namespace`,
`harness_journal`, `harness_max_blast_percent` (default 50),
`harness_dry_run` (plan only), `harness_kubeconfig`, `harness_kube_context`,
and the time limits of `harness.chaos.timeouts`.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

from harness.chaos.errors import ChaosActionFailed
from harness.chaos.journal import Journal, default_journal_path
from harness.chaos.rollback import RollbackResult, rollback_journal
from harness.chaos.template import ActionContext, FaultPlan, apply_fault
from harness.targets.base import NothingMatched, PodInfo, Target, TargetError
from harness.targets.objects import writable_copy

__all__ = ["kill_pods", "gpu_oom", "inject_latency", "inject_abort", "region_outage", "engine_slowdown",
           "error_rate", "rollback_all"]

Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None


# -- victims -------------------------------------------------------------------------

def _select(target: Target, selector: str, namespace: str | None) -> list[PodInfo]:
    try:
        return target.list_pods(selector, namespace)
    except TargetError as exc:  # NothingMatched included: an action never passes by hitting nothing
        raise ChaosActionFailed(str(exc)) from None


def _population(target: Target, pods: list[PodInfo], namespace: str | None) -> int:
    """The blast radius is measured against the whole workload (every pod of
    the same `app`), not against the selector, which may be narrow on purpose."""
    app = pods[0].labels.get("app") if pods else None
    if not app:
        return len(pods)
    try:
        return max(len(pods), len(target.list_pods(f"app={app}", namespace)))
    except TargetError:
        return len(pods)


def _pick(ctx: ActionContext, pods: list[PodInfo], count: int | None, percent: float | None, seed: int | None,
          what: str, namespace: str | None) -> list[PodInfo]:
    total = len(pods)
    n = count if count is not None else max(1, round(total * (percent or 0) / 100))
    if n < 1:
        raise ChaosActionFailed(f"{what}: nothing to do (count {count}, percent {percent})")
    if n > total:
        raise ChaosActionFailed(f"{what}: asked for {n} pods but the selector matches {total}")
    whole = _population(ctx.target, pods, namespace)
    share = 100.0 * n / whole
    if share > ctx.max_blast_percent:
        raise ChaosActionFailed(f"{what}: {n} of the workload's {whole} pods is {share:.0f}%, above the "
                                f"blast-radius cap of {ctx.max_blast_percent:.0f}% "
                                "(configuration harness_max_blast_percent)")
    ready = sorted([p for p in pods if p.ready], key=lambda p: p.name) or sorted(pods, key=lambda p: p.name)
    return random.Random(seed).sample(ready, min(n, len(ready)))


# -- pod kill ----------------------------------------------------------------------

def kill_pods(selector: str, count: int | None = None, percent: float | None = None, grace_period: float = 0,
              namespace: str | None = None, seed: int | None = None, configuration: Configuration = None,
              secrets: Secrets = None) -> dict[str, Any]:
    """Delete `count` (or `percent` %) of the ready pods the selector matches.
    The controller recreates them; the rollback waits until as many pods are
    ready again as before."""
    ctx = ActionContext.from_configuration(configuration)
    pods = _select(ctx.target, selector, namespace)
    victims = _pick(ctx, pods, count, percent, seed, "kill_pods", namespace)
    names = [p.name for p in victims]
    ready_before = sum(p.ready for p in pods)
    restarts = {p.name: p.restarts for p in victims}

    def inject() -> None:
        for p in victims:
            ctx.target.delete_pod(p.name, grace_period, namespace)

    def gone() -> str | None:
        try:
            now = {p.name: p for p in ctx.target.list_pods(selector, namespace)}
        except NothingMatched:
            return None  # every matching pod is gone
        alive = [n for n in names if n in now and now[n].ready and now[n].restarts == restarts[n]
                 and now[n].phase == "Running"]
        return f"still running and ready: {', '.join(alive)}" if alive else None

    return apply_fault(ctx, FaultPlan(
        action="kill_pods", params={"selector": selector, "pods": names},
        undo_op="wait_ready", undo_args={"selector": selector, "namespace": namespace, "ready": ready_before},
        inject=inject, confirm=gone, result={"killed": names, "ready_before": ready_before},
        would={"would_kill": names}, confirm_timeout_s=max(ctx.timeouts.confirm_s, grace_period + 10)))


# -- engine faults --------------------------------------------------------------------

PodCheck = Callable[[Target, PodInfo], str | None]


def _engine_fault_action(action: str, fault: dict[str, Any], selector: str, count: int | None,
                         percent: float | None, namespace: str | None, seed: int | None,
                         configuration: Configuration, confirm: PodCheck, kills: bool = False) -> dict[str, Any]:
    ctx = ActionContext.from_configuration(configuration)
    pods = _select(ctx.target, selector, namespace)
    if count is None and percent is None:
        count = 1
    victims = _pick(ctx, pods, count, percent, seed, action, namespace)
    names = [p.name for p in victims]
    ready_before = sum(p.ready for p in pods)

    def inject() -> None:
        for p in victims:
            ctx.target.engine_fault(p, fault)

    def check() -> str | None:
        problems = [r for p in victims if (r := confirm(ctx.target, p))]
        return "; ".join(problems) or None

    return apply_fault(ctx, FaultPlan(
        action=action, params={"selector": selector, "fault": fault, "pods": names},
        undo_op="clear_engine_fault",
        undo_args={"selector": selector, "namespace": namespace, "pods": names, "kind": fault["kind"],
                   "ready": ready_before, **({"restarts": {p.name: p.restarts for p in victims}} if kills else {})},
        inject=inject, confirm=check, result={"pods": names, "fault": fault},
        would={"would_fault": names, "fault": fault}))


def _fault_active(kind: str) -> PodCheck:
    def check(target: Target, pod: PodInfo) -> str | None:
        return None if kind in target.engine_faults(pod) else f"{pod.name} reports no active {kind} fault"
    return check


def _oom_seen(namespace: str | None) -> PodCheck:
    def check(target: Target, pod: PodInfo) -> str | None:
        app = pod.labels.get("app")
        try:
            now = {p.name: p for p in target.list_pods(f"app={app}" if app else "", namespace)}
        except NothingMatched:
            return None
        p = now.get(pod.name)
        if p is None or not p.ready or p.restarts > pod.restarts:
            return None  # health fails or it already died and restarted
        if "gpu_oom" in target.engine_faults(p):
            return None
        return f"{pod.name} is still healthy with no OOM reported"
    return check


def gpu_oom(selector: str, count: int | None = None, percent: float | None = None, exit_after_s: float = 5.0,
            namespace: str | None = None, seed: int | None = None, configuration: Configuration = None,
            secrets: Secrets = None) -> dict[str, Any]:
    """CUDA out of memory in the engine: in-flight and new requests fail with
    vLLM's EngineDeadError, /health fails, the process exits and the pod
    restarts (locally through the engine's OOM hook; on Kubernetes a GPU
    memory hog exec'd into the serving container, see docs/chaos.md)."""
    return _engine_fault_action("gpu_oom", {"kind": "gpu_oom", "exit_after_s": exit_after_s}, selector, count,
                                percent, namespace, seed, configuration, _oom_seen(namespace), kills=True)


def engine_slowdown(selector: str, factor: float = 3.0, count: int | None = None, percent: float | None = None,
                    namespace: str | None = None, seed: int | None = None, configuration: Configuration = None,
                    secrets: Secrets = None) -> dict[str, Any]:
    """Multiply the engines' step time by `factor` (a throttled or contended GPU)."""
    return _engine_fault_action("engine_slowdown", {"kind": "slow", "factor": factor}, selector, count, percent,
                                namespace, seed, configuration, _fault_active("slow"))


def error_rate(selector: str, rate: float = 0.5, status: int = 503, count: int | None = None,
               percent: float | None = None, namespace: str | None = None, seed: int | None = None,
               configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Make the engines answer `rate` of their requests with `status` (500 or 503)."""
    return _engine_fault_action("error_rate", {"kind": "error_rate", "rate": rate, "status": status}, selector,
                                count, percent, namespace, seed, configuration, _fault_active("error_rate"))


# -- Istio faults ------------------------------------------------------------------------

HEADER_RULE = "harness-fault"


def _with_fault(vs: dict[str, Any], fault: dict[str, Any], route: str | None,
                header: dict[str, str] | None) -> dict[str, Any]:
    """The VirtualService with `fault` on the chosen rules: the rule named
    `route`, every rule (default), or a new first rule that matches `header`
    and copies the catch-all's destinations."""
    new = writable_copy(vs, keep_version=True)
    rules: list[dict[str, Any]] = new.setdefault("spec", {}).setdefault("http", [])
    if header:
        base = next((r for r in rules if not r.get("match")), rules[-1] if rules else None)
        if base is None:
            raise ChaosActionFailed("the VirtualService has no http rule to copy destinations from")
        rules.insert(0, {"name": HEADER_RULE,
                         "match": [{"headers": {k: {"exact": v} for k, v in header.items()}}],
                         "route": copy.deepcopy(base["route"]), "fault": fault})
        return new
    hit = False
    for r in rules:
        if route is None or r.get("name") == route:
            r["fault"] = fault
            hit = True
    if not hit:
        names = [r.get("name") for r in rules]
        raise ChaosActionFailed(f"route {route!r} not found in the VirtualService (its rules: {names})")
    return new


def _istio_fault(action: str, virtual_service: str, fault: dict[str, Any], route: str | None,
                 header: dict[str, str] | None, namespace: str | None, configuration: Configuration) -> dict[str, Any]:
    ctx = ActionContext.from_configuration(configuration)
    try:
        original = ctx.target.get_istio("VirtualService", virtual_service, namespace)
    except TargetError as exc:
        raise ChaosActionFailed(f"{action}: {exc}") from None
    patched = _with_fault(original, fault, route, header)
    wanted = HEADER_RULE if header else route

    def inject() -> None:
        ctx.target.replace_istio("VirtualService", virtual_service, patched, namespace)

    def applied() -> str | None:
        vs = ctx.target.get_istio("VirtualService", virtual_service, namespace)
        targeted = [r for r in vs.get("spec", {}).get("http", []) if wanted is None or r.get("name") == wanted]
        if targeted and all(r.get("fault") == fault for r in targeted):
            return None
        return f"the VirtualService read back has no such fault on {wanted or 'its rules'}"

    params = {"virtual_service": virtual_service, "fault": fault, "route": route, "header": header}
    return apply_fault(ctx, FaultPlan(
        action=action, params=params, undo_op="restore_istio",
        undo_args={"kind": "VirtualService", "name": virtual_service, "namespace": namespace,
                   "object": writable_copy(original)},
        inject=inject, confirm=applied, result=params, would={"would_apply": patched["spec"]["http"]}))


def inject_latency(virtual_service: str, fixed_delay: str = "2s", percentage: float = 100.0,
                   route: str | None = None, header: dict[str, str] | None = None, namespace: str | None = None,
                   configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Delay requests through the VirtualService's `fault.delay` (Istio-native:
    works behind sidecars), on one route, every route, or a header match."""
    fault = {"delay": {"fixedDelay": fixed_delay, "percentage": {"value": float(percentage)}}}
    return _istio_fault("inject_latency", virtual_service, fault, route, header, namespace, configuration)


def inject_abort(virtual_service: str, http_status: int = 503, percentage: float = 100.0,
                 route: str | None = None, header: dict[str, str] | None = None, namespace: str | None = None,
                 configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Abort requests with `http_status` through the VirtualService's `fault.abort`."""
    fault = {"abort": {"httpStatus": int(http_status), "percentage": {"value": float(percentage)}}}
    return _istio_fault("inject_abort", virtual_service, fault, route, header, namespace, configuration)


# -- regions -----------------------------------------------------------------------------

def region_outage(region: str, mode: str = "kill", configuration: Configuration = None,
                  secrets: Secrets = None) -> dict[str, Any]:
    """Take a region down: `kill` (every pod down and kept down) or `blackhole`
    (pods accept connections and never answer). The rollback brings it back
    and waits until as many of its pods are ready as before."""
    if mode not in ("kill", "blackhole"):
        raise ChaosActionFailed(f"region_outage: mode {mode!r}: use kill or blackhole")
    ctx = ActionContext.from_configuration(configuration)
    ready_before = sum(p.ready for p in _select(ctx.target, f"region={region}", None))
    undo: dict[str, Any] = {}

    def inject() -> dict[str, Any]:
        undo.update(ctx.target.region_down(region, mode))
        return {"undo": dict(undo)}

    return apply_fault(ctx, FaultPlan(
        action="region_outage", params={"region": region, "mode": mode},
        undo_op="region_up", undo_args={"region": region, "undo": {}, "ready": ready_before},
        inject=inject, confirm=lambda: ctx.target.region_outage_missing(region, mode, undo),
        result={"region": region, "mode": mode, "ready_before": ready_before},
        would={"would_take_down": region, "mode": mode}))


# -- rollback --------------------------------------------------------------------------------

def rollback_all(configuration: Configuration = None, secrets: Secrets = None) -> list[RollbackResult]:
    """Chaos Toolkit rollback: undo every fault this run's journal still holds."""
    results = rollback_journal(Journal(default_journal_path(configuration)), configuration)
    failed = [r for r in results if not r["rolled_back"]]
    if failed:
        raise ChaosActionFailed(f"{len(failed)} rollback(s) failed: "
                                + "; ".join(f"{r['action']}: {r['error']}" for r in failed))
    return results
