"""Target drivers: one protocol (`base.Target`), two platforms (`local`, `kubernetes`)."""

from harness.targets.base import NothingMatched, PodInfo, Target, TargetError, TargetUnsupported
from harness.targets.factory import get_target

__all__ = ["Target", "PodInfo", "TargetError", "NothingMatched", "TargetUnsupported", "get_target"]
