"""Keep Locust from outliving the harness.

Locust runs in its own session (so a terminal's Ctrl-C reaches the harness
alone, which decides how the run ends). Then a signal sent to the harness
process reaches Locust only if the harness forwards it: while the harness
waits on Locust, SIGINT and SIGTERM ask Locust to stop (it still writes its
CSV and records) and the harness goes on waiting for it, killing it if it
overstays. A harness killed outright (SIGKILL) cannot forward anything:
`terminate_with_parent` has the kernel send Locust SIGTERM then.
"""

from __future__ import annotations

import math
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from harness.localstack.procs import set_parent_death_signal

__all__ = ["Interruption", "forward_stop_signals", "wait_until", "terminate_with_parent"]

_KILL_AFTER_S = 5.0  # a child still running this long after SIGTERM is killed
_POLL_S = 0.2


def terminate_with_parent() -> None:
    """Run in the child between fork and exec: SIGTERM it when its parent
    dies. Strictly, when the parent thread that started it ends: start the
    child from a thread that outlives it (the main thread)."""
    set_parent_death_signal(signal.SIGTERM)


@dataclass
class Interruption:
    signal: int | None = None
    at: float = math.inf  # monotonic time of the first signal

    @property
    def happened(self) -> bool:
        return self.signal is not None


@contextmanager
def forward_stop_signals(stop: Callable[[], None]) -> Iterator[Interruption]:
    """While inside, SIGINT and SIGTERM call `stop` (ask the child to end)
    instead of interrupting this process; the caller keeps waiting for it."""
    state = Interruption()

    def handler(signum: int, _frame: FrameType | None) -> None:
        if state.signal is None:
            state.signal, state.at = signum, time.monotonic()
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def wait_until(proc: subprocess.Popen[bytes], deadline: Callable[[], float]) -> int:
    """Wait for `proc` to exit; once `deadline()` (monotonic, re-read while
    waiting as a stop request brings it closer) has passed: SIGTERM, then
    SIGKILL after 5 s. Returns the exit code."""
    while proc.poll() is None:
        remaining = deadline() - time.monotonic()
        if remaining <= 0:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(_KILL_AFTER_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()
        try:
            proc.wait(min(_POLL_S, remaining))
        except subprocess.TimeoutExpired:
            continue
    return proc.returncode
