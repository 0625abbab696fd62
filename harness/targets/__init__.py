"""Target drivers: one protocol (`base.Target`), two platforms (`local`, `kubernetes`),
chosen by `factory.get_target`."""

from harness.targets.base import NothingMatched, PodInfo, Target, TargetError, TargetUnsupported
from harness.targets.factory import get_target, register_target, unregister_target

__all__ = ["Target", "PodInfo", "TargetError", "NothingMatched", "TargetUnsupported", "get_target",
           "register_target", "unregister_target"]
