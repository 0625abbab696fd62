"""`harness chaos run`: Chaos Toolkit's own engine (chaoslib), with the
harness's guarantees around it: the target and journal chosen once, every
journaled fault rolled back after success, deviation, failure, exception,
SIGINT or SIGTERM, and an optional guard SLO that aborts a run burning too
fast."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.chaos.actions import rollback_journal
from harness.chaos.journal import Journal
from harness.diagnostics import ConfigError, Diagnostic

__all__ = ["ChaosRun", "RunOutcome", "Interrupted", "load_experiment_file", "Guard"]

log = logging.getLogger("harness.chaos")


class Interrupted(BaseException):
    """SIGINT/SIGTERM or a breached guard: stop the method, then roll back."""


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
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    journal_path: str = ""
    reason: str = ""

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return 130
        rollback_failed = any(not r["rolled_back"] for r in self.rollbacks)
        return 0 if self.status == "completed" and not self.deviated and not rollback_failed else 1


def load_experiment_file(path: Path) -> dict[str, Any]:
    """Load and validate a Chaos Toolkit experiment; one ConfigError line on any problem."""
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.loader import load_experiment

    if not path.is_file():
        raise ConfigError(Diagnostic("error", str(path), "no such experiment file", fix="check the path"))
    from harness.diagnostics import errors_only
    from harness.validation.experiments import validate_experiments

    problems = errors_only(validate_experiments([path]))
    if problems:
        raise ConfigError(problems)
    try:
        experiment = load_experiment(str(path))
        ensure_experiment_is_valid(experiment)
    except ChaosException as exc:
        raise ConfigError(Diagnostic("error", str(path), str(exc).strip().splitlines()[0],
                                     fix="see `harness validate` and docs/chaos.md")) from None
    return experiment


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

    def run(self) -> RunOutcome:
        from chaoslib.experiment import run_experiment

        experiment = load_experiment_file(self.experiment_path)
        journal_path = self.journal_path or Path("reports/chaos") / f"{self.experiment_path.stem}-{int(time.time())}.jsonl"
        config = experiment.setdefault("configuration", {})
        config.update({"harness_target": self.target, "harness_stack": self.stack,
                       "harness_journal": str(journal_path)})
        if self.namespace:
            config["harness_namespace"] = self.namespace
        if self.dry_run:
            config["harness_dry_run"] = True
        previous_journal_env = os.environ.get("HARNESS_CHAOS_JOURNAL")
        os.environ["HARNESS_CHAOS_JOURNAL"] = str(journal_path)
        journal = Journal(journal_path)
        outcome = RunOutcome(status="failed", deviated=False, journal_path=str(journal_path))
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def interrupt(signum: int, frame: Any) -> None:
            raise Interrupted(f"signal {signal.Signals(signum).name}")

        for sig in previous:
            signal.signal(sig, interrupt)
        stop_guard = threading.Event()
        breach: list[str] = []
        if self.guard is not None:
            threading.Thread(target=self._watch, args=(self.guard, stop_guard, breach), daemon=True).start()
        try:
            ctk = run_experiment(experiment, settings={})
            outcome.status = str(ctk.get("status", "failed"))
            outcome.deviated = bool(ctk.get("deviated"))
            if self.journal_out:
                self.journal_out.parent.mkdir(parents=True, exist_ok=True)
                self.journal_out.write_text(json.dumps(ctk, indent=2, default=str))
        except Interrupted as exc:
            outcome.status = "aborted" if breach else "interrupted"
            outcome.reason = breach[0] if breach else str(exc)
        except Exception as exc:  # an exception in the method: still roll back
            outcome.status, outcome.reason = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            stop_guard.set()
            # Rollback runs with signals ignored: a second Ctrl-C must not leave a fault behind.
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)
            try:
                outcome.rollbacks = rollback_journal(journal, config)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
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
