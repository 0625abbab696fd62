"""Where a running local stack is recorded, so other commands can find it.

`harness stack up` writes `state.json` under `<state dir>/stacks/<name>/`;
`harness stack status|down`, `harness load` and the local target driver read
it. The state dir is `$HARNESS_STATE_DIR`, else `$XDG_STATE_HOME/llm-mesh-harness`,
else `~/.local/state/llm-mesh-harness`.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.diagnostics import ConfigError, Diagnostic

__all__ = ["StackState", "state_dir", "stack_dir", "read_state", "write_state", "remove_state", "lock_name",
           "adopt_name_lock"]

DEFAULT_STACK = "default"


@dataclass
class StackState:
    """What a client needs to reach a running stack."""

    name: str
    pid: int  # the orchestrator's PID: `stack down` signals it
    gateway: str  # base URL of the mesh ingress (OpenAI API)
    admin: str  # base URL of the orchestrator admin API
    prometheus: str  # base URL of Prometheus
    pid_start_time: float | None = None  # guards against signalling a reused PID
    mesh_admin: str | None = None  # base URL of the mesh proxy's admin API (Istio objects, /metrics)
    run_dir: str = ""  # logs, rendered prometheus.yml, TSDB
    topology: str = ""
    istio: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def state_dir() -> Path:
    if env := os.environ.get("HARNESS_STATE_DIR"):
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "llm-mesh-harness"


def stack_dir(name: str = DEFAULT_STACK) -> Path:
    return state_dir() / "stacks" / name


def read_state(name: str = DEFAULT_STACK) -> StackState | None:
    path = stack_dir(name) / "state.json"
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return StackState(**data)


def write_state(state: StackState) -> Path:
    path = stack_dir(state.name) / "state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.to_json())
    tmp.replace(path)  # atomic: readers never see half a file
    return path


def remove_state(name: str = DEFAULT_STACK) -> None:
    (stack_dir(name) / "state.json").unlink(missing_ok=True)


def lock_name(name: str = DEFAULT_STACK) -> int:
    """Take the stack name: an exclusive flock on `<stack dir>/lock`, held for
    the stack's whole life by the process that runs it (the kernel releases it
    when that process ends, however it ends). Returns the locked descriptor.

    Raises ConfigError when another stack of that name is running or starting.
    """
    path = stack_dir(name) / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigError(Diagnostic(
            "error", "--name", f"a stack named '{name}' is already running or starting",
            fix=f"run 'harness stack down --name {name}' or choose another --name")) from None
    return fd


def adopt_name_lock(fd: int) -> int:
    """Keep a name lock inherited from the process that took it (`stack up
    --detach` takes the name, then hands the descriptor to the stack's own
    process). Raises ValueError if `fd` does not hold the lock."""
    try:
        # On the open file description that already holds the lock this
        # succeeds at once; on any other it would find the lock taken.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        raise ValueError(f"descriptor {fd} does not hold a stack name lock: {exc}") from None
    os.set_inheritable(fd, False)  # pods and Prometheus must not keep the name alive
    return fd
