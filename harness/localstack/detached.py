"""A local stack in a background process: what `harness stack up --detach`,
`harness stack down` and the test helpers use.

`start_detached` takes the stack's name (an exclusive lock) before anything
starts, hands the lock to the stack's own process
(`python -m harness.localstack.orchestrator`, which runs a `LocalStack`) and
returns once that process has written its state file, i.e. once the stack is
ready. `stop_detached` ends it by its recorded PID.
"""

from __future__ import annotations

import os
import subprocess
import time

from harness.localstack.procs import python_module_command, terminate_pid
from harness.localstack.stack import StackError, StackOptions, preflight
from harness.localstack.state import StackState, lock_name, read_state, remove_state, stack_dir

__all__ = ["start_detached", "stop_detached", "orchestrator_args", "STOP_GRACE_S", "START_MARGIN_S"]

STOP_GRACE_S = 20.0  # SIGTERM to SIGKILL when stopping a detached stack
START_MARGIN_S = 30.0  # beyond the pods' ready timeout: mesh, Prometheus and its first scrape


def orchestrator_args(opts: StackOptions) -> list[str]:
    """The command-line arguments that make the stack's process run `opts`."""
    args = ["--name", opts.name, "--topology", str(opts.topology), "--ready-timeout", str(opts.ready_timeout)]
    for d in opts.istio:
        args += ["--istio", str(d)]
    if not opts.prometheus:
        args.append("--no-prometheus")
    if not opts.mesh:
        args.append("--no-mesh")
    return args


def start_detached(opts: StackOptions, timeout: float | None = None) -> StackState:
    """Start the stack in its own session and wait until it is ready.

    Raises ConfigError (the name is taken: nothing is started) or StackError
    (the stack failed; its process has ended and taken every part with it).
    """
    preflight(opts)  # bad input fails here, in the caller's terminal, before anything starts
    lock = lock_name(opts.name)
    try:
        run_dir = stack_dir(opts.name)
        log_path = run_dir / "orchestrator.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                python_module_command("harness.localstack.orchestrator", *orchestrator_args(opts),
                                      "--lock-fd", str(lock)),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(lock,),
                start_new_session=True)
    finally:
        os.close(lock)  # the stack's process holds its own copy of the lock from here on
    deadline = time.monotonic() + (timeout or opts.ready_timeout + START_MARGIN_S)
    try:
        while time.monotonic() < deadline:
            state = read_state(opts.name)
            if state and state.pid == proc.pid:
                return state
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise StackError("the stack did not start:\n" + "\n".join(tail))
            time.sleep(0.1)
        raise StackError(f"the stack was not ready in time; see {log_path}")
    except BaseException:
        # Not ready in time, or the caller interrupted: the stack runs in its own
        # session, so nothing else would ever stop it.
        terminate_pid(proc.pid, grace=STOP_GRACE_S)
        raise


def stop_detached(name: str) -> bool:
    """Stop the named stack by its recorded PID. False if none was running."""
    state = read_state(name)
    if state is None:
        return False
    was_running = terminate_pid(state.pid, grace=STOP_GRACE_S, start_time=state.pid_start_time)
    remove_state(name)
    return was_running
