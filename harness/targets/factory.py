"""The target a configuration names: `harness_target: local` (the default;
`harness_stack` names the stack) or `kube` (`harness_kubeconfig`,
`harness_kube_context`, `harness_namespace`). Another platform (or a test
double) registers its own kind with `register_target`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.targets.base import Target, TargetError

__all__ = ["get_target", "target_spec", "register_target", "unregister_target", "TARGET_KEYS", "TargetFactory"]

TARGET_KEYS = ("harness_target", "harness_stack", "harness_namespace", "harness_kubeconfig", "harness_kube_context")
TargetFactory = Callable[[dict[str, Any]], Target]


def _local(cfg: dict[str, Any]) -> Target:
    from harness.targets.local import LocalTarget

    return LocalTarget.from_stack(str(cfg.get("harness_stack", "default")), str(cfg.get("harness_namespace", "llm")))


def _kubernetes(cfg: dict[str, Any]) -> Target:
    from harness.targets.kubernetes import KubernetesTarget

    return KubernetesTarget.from_config(str(cfg.get("harness_namespace", "llm")), cfg.get("harness_kubeconfig"),
                                        cfg.get("harness_kube_context"))


_FACTORIES: dict[str, TargetFactory] = {"local": _local, "kube": _kubernetes, "kubernetes": _kubernetes}


def register_target(kind: str, factory: TargetFactory) -> None:
    """Make `harness_target: <kind>` build its target with `factory(configuration)`."""
    if kind in ("local", "kube", "kubernetes"):
        raise ValueError(f"target kind {kind!r} is built in")
    _FACTORIES[kind] = factory


def unregister_target(kind: str) -> None:
    if kind not in ("local", "kube", "kubernetes"):
        _FACTORIES.pop(kind, None)


def target_spec(configuration: dict[str, Any] | None) -> dict[str, Any]:
    """The part of a configuration that rebuilds the same target later (kept in the journal)."""
    cfg = configuration or {}
    return {k: cfg[k] for k in TARGET_KEYS if k in cfg}


def get_target(configuration: dict[str, Any] | None) -> Target:
    cfg = configuration or {}
    kind = str(cfg.get("harness_target", "local"))
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise TargetError(f"configuration harness_target: unknown target {kind!r} (use local or kube)")
    return factory(cfg)
