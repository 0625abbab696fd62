"""Child processes and listening sockets of the local stack.

Every child is tied to its parent with PR_SET_PDEATHSIG, so a crashed or
SIGKILLed orchestrator never leaves engines or Prometheus behind; processes
are always ended by PID, and a PID read back from a state file is checked
against its recorded start time before it is signalled (PIDs get reused).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

import psutil

__all__ = [
    "bind_listener",
    "free_port",
    "set_parent_death_signal",
    "process_start_time",
    "is_same_process",
    "terminate_pid",
    "python_module_command",
    "wait_until",
]

_PR_SET_PDEATHSIG = 1
_LISTEN_BACKLOG = 4096  # the default 128 stalls connection bursts for a second


def bind_listener(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket, inheritable so it can be passed to a child as `--fd`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(_LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now, for programs that must bind themselves (Prometheus)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """Run in the child between fork and exec: die when the parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    # The parent may have died between fork and prctl.
    if os.getppid() == 1:
        os._exit(1)


def python_module_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def process_start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def is_same_process(pid: int, start_time: float | None) -> bool:
    """True if `pid` is alive and is the process recorded with `start_time`."""
    current = process_start_time(pid)
    if current is None:
        return False
    return start_time is None or abs(current - start_time) < 0.05


def terminate_pid(pid: int, grace: float = 5.0, start_time: float | None = None) -> bool:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. Never signals a reused
    PID. Returns whether the process was running."""
    if not is_same_process(pid, start_time):
        return False
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.Error):
            proc.kill()
            proc.wait(timeout=5)
    return True


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate` until true or the deadline passes (for synchronous callers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
