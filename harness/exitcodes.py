"""The exit codes of every `harness` command (README, "Exit codes")."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a verdict failed, an action failed or was refused, the stack failed
    BAD_INPUT = 2  # files, options or names are wrong; nothing was started
    INCONCLUSIVE = 3  # nothing failed, but a threshold was missed or a verdict could not be computed
    INTERRUPTED = 130  # SIGINT or SIGTERM: everything started is stopped, every fault rolled back
