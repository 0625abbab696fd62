"""`harness chaos run`: Chaos Toolkit's own engine (chaoslib), with the
harness's guarantees around it: the target checked and the journal chosen
once, every journaled fault rolled back after success, deviation, failure,
exception, SIGINT or SIGTERM, a method action that failed or was refused
failing the run, and an optional guard SLO that aborts a run burning too
fast."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from chaoslib.run import RunEventHandler

from harness.chaos.journal import Journal
from harness.chaos.rollback import RollbackResult, rollback_journal
from harness.diagnostics import ConfigError, Diagnostic
from harness.exitcodes import ExitCode
from harness.targets.base import TargetError
from harness.targets.factory import get_target

__all__ = ["ChaosRun", "RunOutcome", "Interrupted", "load_experiment_file", "Guard", "failed_actions",
           "INTERRUPTED_EXIT"]

log = logging.getLogger("harness.chaos")
INTERRUPTED_EXIT = ExitCode.INTERRUPTED  # SIGINT and SIGTERM alike
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# "chaoslib.exceptions.ActivityFailed: harness.chaos.errors.ChaosActionFailed: <why>": keep <why>
_EXCEPTION_NAMES = re.compile(r"^(?:[\w.]+(?:Error|Failed|Exception): )+")


class Interrupted(BaseException):
    """SIGINT/SIGTERM or a breached guard: stop the method, then roll back.
    A BaseException, so neither chaoslib nor an activity can swallow it."""


@dataclass
class Guard:
    """Abort when `probe()` drops below `minimum` (checked every `interval` s)."""

    probe: Callable[[], float]
    minimum: float
    interval: float = 2.0
    description: str = "guard SLO"


@dataclass
class RunOutcome:
    status: str  # completed | failed | aborted | interrupted
    deviated: bool
    rollbacks: list[RollbackResult] = field(default_factory=list)
    journal_path: str = ""  # empty when the run wrote no fault journal
    reason: str = ""

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return INTERRUPTED_EXIT
        rollback_failed = any(not r["rolled_back"] for r in self.rollbacks)
        ok = self.status == "completed" and not self.deviated and not rollback_failed
        return ExitCode.OK if ok else ExitCode.FAILED


def load_experiment_file(path: Path) -> dict[str, Any]:
    """Load and validate a Chaos Toolkit experiment; one ConfigError line on any problem."""
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.loader import load_experiment

    from harness.diagnostics import errors_only
    from harness.validation.experiments import validate_experiments

    if not path.is_file():
        raise ConfigError(Diagnostic("error", str(path), "no such experiment file", fix="check the path"))
    problems = errors_only(validate_experiments([path]))
    if problems:
        raise ConfigError(problems)
    try:
        experiment: dict[str, Any] = load_experiment(str(path))
        ensure_experiment_is_valid(experiment)
    except ChaosException as exc:
        raise ConfigError(Diagnostic("error", str(path), str(exc).strip().splitlines()[0],
                                     fix="see `harness validate` and docs/chaos.md")) from None
    return experiment


def failed_actions(ctk_journal: dict[str, Any]) -> list[str]:
    """The method's actions that failed (refused by a guard, no target, fault
    not confirmed), each as `name: why`. A fault that was not injected must
    never read as a passed experiment."""
    out = []
    for run in ctk_journal.get("run") or []:
        activity = run.get("activity") or {}
        if activity.get("type") == "action" and run.get("status") == "failed":
            why = (run.get("exception") or ["failed"])[-1].strip().splitlines()[-1]
            out.append(f"{activity.get('name', '?')}: {_EXCEPTION_NAMES.sub('', why)}")
    return out


class _StopSignals:
    """SIGINT and SIGTERM raise `Interrupted` once, and only while the
    experiment runs (so it stops at once, wherever it is); any later signal
    is only recorded, so nothing can cut the rollback short."""

    def __init__(self) -> None:
        self.running = False
        self.received: list[str] = []

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)
        if self.running:
            self.running = False
            raise Interrupted(f"signal {signal.Signals(signum).name}")

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self.handle)

    @contextmanager
    def installed(self) -> Iterator[_StopSignals]:
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
        self.install()
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _KeepStopSignals(RunEventHandler):  # type: ignore[misc]  # chaoslib ships no type information
    """chaoslib installs its own SIGTERM handler for the run (one that an
    activity turns into a mere failed activity); put ours back as it starts."""

    def __init__(self, signals: _StopSignals) -> None:
        self.signals = signals

    def started(self, experiment: dict[str, Any], journal: dict[str, Any]) -> None:
        self.signals.install()


@dataclass
class ChaosRun:
    experiment_path: Path
    target: str = "local"
    stack: str = "default"
    namespace: str | None = None
    dry_run: bool = False
    journal_path: Path | None = None
    guard: Guard | None = None
    journal_out: Path | None = None  # Chaos Toolkit's own run journal (JSON)
    on_start: Callable[[str], None] | None = None  # told once the run is checked and about to act

    def configuration(self, experiment: dict[str, Any], journal_path: Path) -> dict[str, Any]:
        config: dict[str, Any] = experiment.setdefault("configuration", {})
        config.update({"harness_target": self.target, "harness_stack": self.stack,
                       "harness_journal": str(journal_path)})
        if self.namespace:
            config["harness_namespace"] = self.namespace
        if self.dry_run:
            config["harness_dry_run"] = True
        return config

    def check_target(self, config: dict[str, Any]) -> None:
        """No target to act on is invalid input (exit 2), found before anything runs."""
        try:
            get_target(config)
        except TargetError as exc:
            option = "--stack" if self.target == "local" else "--target"
            raise ConfigError(Diagnostic("error", option, str(exc))) from None

    def run(self) -> RunOutcome:
        signals = _StopSignals()
        with signals.installed():
            experiment = load_experiment_file(self.experiment_path)
            journal_path = self.journal_path or Path("reports/chaos") / f"{self.experiment_path.stem}-{int(time.time())}.jsonl"
            config = self.configuration(experiment, journal_path)
            self.check_target(config)
            if self.on_start is not None:
                self.on_start(f"experiment {self.experiment_path.name}: running against the {self.target} target"
                              + (f" (stack {self.stack})" if self.target == "local" else ""))
            outcome = self._run(experiment, config, Journal(journal_path), signals)
        if signals.received and outcome.status != "aborted":
            outcome.status = "interrupted"
            outcome.reason = outcome.reason or f"signal {signals.received[0]}"
        outcome.journal_path = str(journal_path) if journal_path.exists() else ""
        return outcome

    def _run(self, experiment: dict[str, Any], config: dict[str, Any], journal: Journal,
             signals: _StopSignals) -> RunOutcome:
        from chaoslib.exceptions import InterruptExecution
        from chaoslib.experiment import run_experiment

        outcome = RunOutcome(status="failed", deviated=False)
        previous_journal_env = os.environ.get("HARNESS_CHAOS_JOURNAL")
        os.environ["HARNESS_CHAOS_JOURNAL"] = str(journal.path)
        stop_guard = threading.Event()
        breach: list[str] = []
        try:
            if signals.received:
                raise Interrupted(f"signal {signals.received[0]}")
            if self.guard is not None:
                threading.Thread(target=self._watch, args=(self.guard, stop_guard, breach), daemon=True).start()
            signals.running = True
            ctk = run_experiment(experiment, settings={}, event_handlers=[_KeepStopSignals(signals)])
            signals.running = False
            outcome.status = str(ctk.get("status", "failed"))
            outcome.deviated = bool(ctk.get("deviated"))
            failures = failed_actions(ctk)
            # "failed" too: the experiments' control (harness.chaos.control) already marked it so
            if failures and outcome.status in ("completed", "failed"):
                outcome.status, outcome.reason = "failed", "action " + "; action ".join(failures)
            if self.journal_out:
                self.journal_out.parent.mkdir(parents=True, exist_ok=True)
                self.journal_out.write_text(json.dumps(ctk, indent=2, default=str))
        except Interrupted as exc:
            outcome.status = "aborted" if breach else "interrupted"
            outcome.reason = breach[0] if breach else str(exc)
        except InterruptExecution as exc:  # chaoslib's SIGTERM, in the instant before ours is back
            outcome.status, outcome.reason = "interrupted", str(exc)
        except Exception as exc:  # an exception in the method: still roll back
            outcome.status, outcome.reason = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            signals.running = False
            stop_guard.set()
            if breach and outcome.status != "aborted":  # the guard fired as the method ended
                outcome.status, outcome.reason = "aborted", breach[0]
            outcome.rollbacks = rollback_journal(journal, config)
            if previous_journal_env is None:
                os.environ.pop("HARNESS_CHAOS_JOURNAL", None)
            else:
                os.environ["HARNESS_CHAOS_JOURNAL"] = previous_journal_env
        return outcome

    @staticmethod
    def _watch(guard: Guard, stop: threading.Event, breach: list[str]) -> None:
        while not stop.wait(guard.interval):
            try:
                value = guard.probe()
            except Exception as exc:  # an unmeasurable guard is not a breach; say so
                log.warning("%s could not be measured: %s", guard.description, exc)
                continue
            if value < guard.minimum:
                breach.append(f"{guard.description} at {value:.3f}, below {guard.minimum}")
                os.kill(os.getpid(), signal.SIGINT)
                return
