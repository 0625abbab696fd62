"""Chaos actions: plain functions with typed arguments, usable as Chaos
Toolkit `python` providers (module `harness.chaos.actions`).

Every action follows the same steps: check the guards (namespace allowed,
blast radius), write a journal entry with its undo, act, confirm that the
fault really took effect (else fail the activity), and return a summary for
the Chaos Toolkit journal. `rollback_all` undoes every journaled fault not
yet undone; experiments name it in `rollbacks`, and `harness chaos run`
calls it whatever happens.

Configuration keys (the experiment's `configuration` block):
`harness_target` (`local` | `kube`), `harness_stack`, `harness_namespace`,
`harness_journal`, `harness_max_blast_percent` (default 50),
`harness_dry_run` (plan only), `harness_kubeconfig`, `harness_kube_context`.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

from harness.chaos.journal import Entry, Journal, default_journal_path
from harness.targets.base import NothingMatched, PodInfo, Target, TargetError, get_target

__all__ = ["kill_pods", "gpu_oom", "inject_latency", "inject_abort", "region_outage", "engine_slowdown",
           "error_rate", "rollback_all", "ChaosActionFailed", "UNDO_OPS"]

log = logging.getLogger("harness.chaos")
Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None


class ChaosActionFailed(Exception):
    """An action could not inject its fault, or the fault did not take effect."""


def _failed(message: str) -> Exception:
    """Chaos Toolkit's own failure type when it is importable (it then reports
    the activity as failed), else ours."""
    try:
        from chaoslib.exceptions import ActivityFailed

        return ActivityFailed(message)
    except ImportError:  # pragma: no cover - chaostoolkit-lib is a dependency
        return ChaosActionFailed(message)


# -- context -------------------------------------------------------------------

def _target_spec(configuration: Configuration) -> dict[str, Any]:
    cfg = configuration or {}
    return {k: cfg[k] for k in ("harness_target", "harness_stack", "harness_namespace", "harness_kubeconfig",
                                "harness_kube_context") if k in cfg}


def _dry_run(configuration: Configuration) -> bool:
    value = (configuration or {}).get("harness_dry_run", os.environ.get("HARNESS_CHAOS_DRY_RUN", ""))
    return str(value).lower() in ("1", "true", "yes")


def _context(configuration: Configuration) -> tuple[Target, Journal]:
    try:
        target = get_target(configuration)
    except TargetError as exc:
        raise _failed(str(exc)) from None
    return target, Journal(default_journal_path(configuration))


def _max_blast(configuration: Configuration) -> float:
    return float((configuration or {}).get("harness_max_blast_percent", 50))


def _begin(journal: Journal, action: str, configuration: Configuration, params: dict[str, Any],
           undo_op: str, undo_args: dict[str, Any]) -> Entry:
    entry = Entry(action=action, target=_target_spec(configuration), params=params,
                  undo={"op": undo_op, "args": undo_args})
    if _dry_run(configuration):
        entry.state = "dry_run"
        journal.record(entry)
        log.warning("dry run: would %s with %s", action, params)
        return entry
    return journal.record(entry)


def _confirm(journal: Journal, entry: Entry, check: Callable[[], str | None], timeout: float = 15.0,
             interval: float = 0.2) -> None:
    """Poll `check` (None = confirmed, else why not) until it confirms or time
    runs out; an unconfirmed fault fails the activity (and stays journaled so
    rollback still undoes whatever part of it happened)."""
    deadline = time.monotonic() + timeout
    reason: str | None = "not checked"
    while time.monotonic() < deadline:
        try:
            reason = check()
        except TargetError as exc:
            reason = str(exc)
        if reason is None:
            journal.mark(entry, "confirmed")
            return
        time.sleep(interval)
    journal.mark(entry, "failed", f"fault not confirmed: {reason}")
    raise _failed(f"{entry.action}: the fault did not take effect within {timeout:.0f}s: {reason}")


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


def _pick(pods: list[PodInfo], count: int | None, percent: float | None, max_blast: float,
          seed: int | None, what: str, population: int | None = None) -> list[PodInfo]:
    total = len(pods)
    n = count if count is not None else max(1, round(total * (percent or 0) / 100))
    if n < 1:
        raise _failed(f"{what}: nothing to do (count {count}, percent {percent})")
    if n > total:
        raise _failed(f"{what}: asked for {n} pods but the selector matches {total}")
    whole = population or total
    if 100.0 * n / whole > max_blast:
        raise _failed(f"{what}: {n} of the workload's {whole} pods is {100.0 * n / whole:.0f}%, above the "
                      f"blast-radius cap of {max_blast:.0f}% (configuration harness_max_blast_percent)")
    ready = sorted([p for p in pods if p.ready], key=lambda p: p.name) or sorted(pods, key=lambda p: p.name)
    rng = random.Random(seed)
    return rng.sample(ready, min(n, len(ready)))


def _select(target: Target, selector: str, namespace: str | None) -> list[PodInfo]:
    try:
        return target.list_pods(selector, namespace)
    except NothingMatched as exc:
        raise _failed(str(exc)) from None
    except TargetError as exc:
        raise _failed(str(exc)) from None


# -- pod kill ----------------------------------------------------------------------

def kill_pods(selector: str, count: int | None = None, percent: float | None = None, grace_period: float = 0,
              namespace: str | None = None, seed: int | None = None, configuration: Configuration = None,
              secrets: Secrets = None) -> dict[str, Any]:
    """Delete `count` (or `percent` %) of the ready pods the selector matches.
    The controller recreates them; the rollback waits until as many pods are
    ready again as before."""
    target, journal = _context(configuration)
    pods = _select(target, selector, namespace)
    victims = _pick(pods, count, percent, _max_blast(configuration), seed, "kill_pods",
                    _population(target, pods, namespace))
    ready_before = sum(p.ready for p in pods)
    entry = _begin(journal, "kill_pods", configuration, {"selector": selector, "pods": [p.name for p in victims]},
                   "wait_ready", {"selector": selector, "namespace": namespace, "ready": ready_before})
    if entry.state == "dry_run":
        return {"dry_run": True, "would_kill": [p.name for p in victims]}
    before = {p.name: (p.restarts, p.ready) for p in victims}
    for p in victims:
        target.delete_pod(p.name, grace_period, namespace)
    journal.mark(entry, "injected")

    def gone() -> str | None:
        try:
            now = {p.name: p for p in target.list_pods(selector, namespace)}
        except NothingMatched:
            return None  # every matching pod is gone
        alive = [n for n in before if n in now and now[n].ready and now[n].restarts == before[n][0]
                 and now[n].phase == "Running"]
        return f"still running and ready: {', '.join(alive)}" if alive else None

    _confirm(journal, entry, gone, timeout=max(10.0, grace_period + 10))
    return {"killed": [p.name for p in victims], "ready_before": ready_before}


# -- engine faults --------------------------------------------------------------------

def _engine_fault_action(action: str, fault: dict[str, Any], selector: str, count: int | None,
                         percent: float | None, namespace: str | None, seed: int | None,
                         configuration: Configuration, confirm: Callable[[Target, PodInfo], str | None]
                         ) -> dict[str, Any]:
    target, journal = _context(configuration)
    pods = _select(target, selector, namespace)
    if count is None and percent is None:
        percent = 100.0 * 1 / len(pods)  # one pod
    victims = _pick(pods, count, percent, _max_blast(configuration), seed, action,
                    _population(target, pods, namespace))
    entry = _begin(journal, action, configuration, {"selector": selector, "fault": fault,
                                                    "pods": [p.name for p in victims]},
                   "clear_engine_fault", {"selector": selector, "namespace": namespace,
                                          "pods": [p.name for p in victims], "kind": fault["kind"]})
    if entry.state == "dry_run":
        return {"dry_run": True, "would_fault": [p.name for p in victims], "fault": fault}
    try:
        for p in victims:
            target.engine_fault(p, fault)
    except TargetError as exc:
        journal.mark(entry, "failed", str(exc))
        raise _failed(f"{action}: {exc}") from None
    journal.mark(entry, "injected")

    def check() -> str | None:
        problems = [r for p in victims if (r := confirm(target, p))]
        return "; ".join(problems) or None

    _confirm(journal, entry, check)
    return {"pods": [p.name for p in victims], "fault": fault}


def _fault_active(kind: str) -> Callable[[Target, PodInfo], str | None]:
    def check(target: Target, pod: PodInfo) -> str | None:
        active = target.engine_faults(pod)
        return None if kind in active else f"{pod.name} reports no active {kind} fault"
    return check


def gpu_oom(selector: str, count: int | None = None, percent: float | None = None, exit_after_s: float = 5.0,
            namespace: str | None = None, seed: int | None = None, configuration: Configuration = None,
            secrets: Secrets = None) -> dict[str, Any]:
    """CUDA out of memory in the engine: in-flight and new requests fail with
    vLLM's EngineDeadError, /health fails, the process exits and the pod
    restarts (locally through the engine's OOM hook; on Kubernetes a GPU
    memory hog exec'd into the serving container, see docs/chaos.md)."""

    def confirmed(target: Target, pod: PodInfo) -> str | None:
        try:
            now = {p.name: p for p in target.list_pods(f"{_name_selector(pod)}", namespace)}
        except NothingMatched:
            return None
        p = now.get(pod.name)
        if p is None or not p.ready or p.restarts > pod.restarts:
            return None  # health fails or it already died and restarted
        if "gpu_oom" in target.engine_faults(p):
            return None
        return f"{pod.name} is still healthy with no OOM reported"

    return _engine_fault_action("gpu_oom", {"kind": "gpu_oom", "exit_after_s": exit_after_s}, selector, count,
                                percent, namespace, seed, configuration, confirmed)


def _name_selector(pod: PodInfo) -> str:
    app = pod.labels.get("app")
    return f"app={app}" if app else ""


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

def _with_fault(vs: dict[str, Any], fault: dict[str, Any], route: str | None,
                header: dict[str, str] | None) -> dict[str, Any]:
    """The VirtualService with `fault` on the chosen rules: the rule named
    `route`, every rule (default), or a new first rule that matches `header`
    and copies the catch-all's destinations."""
    new = _clean(vs, keep_version=True)
    rules = new.setdefault("spec", {}).setdefault("http", [])
    if header:
        base = next((r for r in rules if not r.get("match")), rules[-1] if rules else None)
        if base is None:
            raise _failed("the VirtualService has no http rule to copy destinations from")
        rule = {"name": "harness-fault", "match": [{"headers": {k: {"exact": v} for k, v in header.items()}}],
                "route": copy.deepcopy(base["route"]), "fault": fault}
        rules.insert(0, rule)
        return new
    hit = False
    for r in rules:
        if route is None or r.get("name") == route:
            r["fault"] = fault
            hit = True
    if not hit:
        names = [r.get("name") for r in rules]
        raise _failed(f"route {route!r} not found in the VirtualService (its rules: {names})")
    return new


def _istio_fault(action: str, virtual_service: str, fault: dict[str, Any], route: str | None,
                 header: dict[str, str] | None, namespace: str | None, configuration: Configuration) -> dict[str, Any]:
    target, journal = _context(configuration)
    try:
        original = target.get_istio("VirtualService", virtual_service, namespace)
    except TargetError as exc:
        raise _failed(f"{action}: {exc}") from None
    patched = _with_fault(original, fault, route, header)
    entry = _begin(journal, action, configuration, {"virtual_service": virtual_service, "fault": fault,
                                                    "route": route, "header": header},
                   "restore_istio", {"kind": "VirtualService", "name": virtual_service, "namespace": namespace,
                                     "object": _clean(original)})
    if entry.state == "dry_run":
        return {"dry_run": True, "would_apply": patched["spec"]["http"]}
    try:
        target.replace_istio("VirtualService", virtual_service, patched, namespace)
    except TargetError as exc:
        journal.mark(entry, "failed", str(exc))
        raise _failed(f"{action}: {exc}") from None
    journal.mark(entry, "injected")

    def applied() -> str | None:
        rules = target.get_istio("VirtualService", virtual_service, namespace).get("spec", {}).get("http", [])
        wanted = "harness-fault" if header else route
        targeted = [r for r in rules if wanted is None or r.get("name") == wanted]
        if targeted and all(r.get("fault") == fault for r in targeted):
            return None
        return f"the VirtualService read back has no such fault on {wanted or 'its rules'}"

    _confirm(journal, entry, applied)
    return {"virtual_service": virtual_service, "fault": fault, "route": route, "header": header}


def _clean(obj: dict[str, Any], keep_version: bool = False) -> dict[str, Any]:
    """A copy fit to PUT back: no status, only the metadata a user sets (and the
    resourceVersion when the write must carry it)."""
    clean = copy.deepcopy(obj)
    clean.pop("status", None)
    keys = ("name", "namespace", "labels", "annotations") + (("resourceVersion",) if keep_version else ())
    clean["metadata"] = {k: v for k, v in obj.get("metadata", {}).items() if k in keys}
    return clean


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
    (pods accept connections and never answer). Rollback brings it back."""
    target, journal = _context(configuration)
    entry = _begin(journal, "region_outage", configuration, {"region": region, "mode": mode},
                   "region_up", {"region": region, "undo": {}})
    if entry.state == "dry_run":
        return {"dry_run": True, "would_take_down": region, "mode": mode}
    try:
        undo = target.region_down(region, mode)
    except TargetError as exc:
        journal.mark(entry, "failed", str(exc))
        raise _failed(f"region_outage: {exc}") from None
    entry.undo = {"op": "region_up", "args": {"region": region, "undo": undo}}
    journal.mark(entry, "injected")

    def down() -> str | None:
        regions = getattr(target, "regions", None)
        if regions is not None:  # local: the orchestrator reports the region's state
            states = {r["name"]: r["state"] for r in regions()["regions"]}
            return None if states.get(region) not in (None, "up") else f"region {region} still reports up"
        try:
            pods = target.list_pods(f"region={region}")
        except NothingMatched:
            return None
        ready = [p.name for p in pods if p.ready]
        return f"pods still ready in {region}: {', '.join(ready)}" if ready and mode == "kill" else None

    _confirm(journal, entry, down)
    return {"region": region, "mode": mode}


# -- rollback --------------------------------------------------------------------------------

def _undo_wait_ready(target: Target, selector: str, ready: int, namespace: str | None = None,
                     timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        try:
            seen = sum(p.ready for p in target.list_pods(selector, namespace))
        except NothingMatched:
            seen = 0
        if seen >= ready:
            return
        time.sleep(0.3)
    raise TargetError(f"only {seen} of {ready} pods matching {selector!r} are ready after {timeout:.0f}s")


def _undo_clear_engine_fault(target: Target, selector: str, pods: list[str], kind: str,
                             namespace: str | None = None) -> None:
    try:
        current = {p.name: p for p in target.list_pods(selector, namespace)}
    except NothingMatched:
        return
    for name in pods:
        p = current.get(name)
        if p is None:
            continue
        try:
            target.clear_engine_fault(p, kind)
        except TargetError:
            if kind != "gpu_oom":  # a dead engine cannot answer; it restarts clean
                raise


def _undo_restore_istio(target: Target, kind: str, name: str, object: dict[str, Any],
                        namespace: str | None = None) -> None:
    current = target.get_istio(kind, name, namespace)  # type: ignore[arg-type]
    restored = copy.deepcopy(object)
    version = current.get("metadata", {}).get("resourceVersion")
    if version:  # a replace must carry the object's current resourceVersion
        restored.setdefault("metadata", {})["resourceVersion"] = version
    target.replace_istio(kind, name, restored, namespace)  # type: ignore[arg-type]


def _undo_region_up(target: Target, region: str, undo: dict[str, Any]) -> None:
    target.region_up(region, undo)


UNDO_OPS: dict[str, Callable[..., None]] = {
    "wait_ready": _undo_wait_ready,
    "clear_engine_fault": _undo_clear_engine_fault,
    "restore_istio": _undo_restore_istio,
    "region_up": _undo_region_up,
}


def rollback_journal(journal: Journal, configuration: Configuration = None) -> list[dict[str, Any]]:
    """Undo every entry not yet undone, newest first. Each undo is tried even
    if an earlier one failed; failures stay in the journal for a later replay."""
    results = []
    for entry in journal.pending():
        op = UNDO_OPS.get(entry.undo.get("op", ""))
        if op is None:
            journal.mark(entry, "rollback_failed", f"unknown undo {entry.undo.get('op')!r}")
            continue
        try:
            target = get_target({**(configuration or {}), **entry.target})
            op(target, **entry.undo.get("args", {}))
        except Exception as exc:  # keep going: every other fault must still be undone
            journal.mark(entry, "rollback_failed", str(exc))
            results.append({"id": entry.id, "action": entry.action, "rolled_back": False, "error": str(exc)})
            log.error("rollback of %s (%s) failed: %s", entry.action, entry.id, exc)
            continue
        journal.mark(entry, "rolled_back")
        results.append({"id": entry.id, "action": entry.action, "rolled_back": True})
    return results


def rollback_all(configuration: Configuration = None, secrets: Secrets = None) -> list[dict[str, Any]]:
    """Chaos Toolkit rollback: undo every fault this run's journal still holds."""
    results = rollback_journal(Journal(default_journal_path(configuration)), configuration)
    failed = [r for r in results if not r["rolled_back"]]
    if failed:
        raise _failed(f"{len(failed)} rollback(s) failed: " + "; ".join(f"{r['action']}: {r['error']}" for r in failed))
    return results
