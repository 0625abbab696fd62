"""The headless runner: run a load profile against a base URL for a bounded
time, in the background, and get the records back as a pandas DataFrame
with Locust's own stats beside them.

Locust runs in its own process (stock `locust -f PROFILE --headless`):
Locust monkey-patches the interpreter with gevent, which must not happen
inside a test suite or an asyncio program. The process is tracked by PID,
stopped with SIGTERM (Locust then writes its CSV and exits) and killed if it
overstays its duration.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.diagnostics import ConfigError, Diagnostic
from harness.load.records import records_frame
from harness.load.supervise import terminate_with_parent, wait_until
from harness.load.thresholds import Thresholds

__all__ = ["PROFILE_DIR", "resolve_profile", "LoadRun", "LoadResult", "available_profiles", "csv_destination",
           "CSV_RULE"]

PROFILE_DIR = Path(__file__).resolve().parents[2] / "loadprofiles"
_GRACE_S = 15.0  # beyond duration + stop timeout before the process is killed


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.py") if not p.name.startswith("_"))


def resolve_profile(profile: str | Path) -> Path:
    """A profile name (`chat_stream`) or a locustfile path."""
    p = Path(profile)
    if p.suffix == ".py" and p.is_file():
        return p.resolve()
    candidate = PROFILE_DIR / f"{profile}.py"
    if candidate.is_file():
        return candidate
    raise ConfigError(Diagnostic("error", str(profile), "no such load profile", field="--profile",
                                 fix=f"use one of {', '.join(available_profiles())} or a path to a locustfile"))


CSV_RULE = ("a directory if it ends in '/' or is an existing directory (files DIR/locust_stats.csv ... and "
            "DIR/records.jsonl), otherwise a file prefix (PREFIX_stats.csv ... and PREFIX_records.jsonl)")


def csv_destination(text: str) -> tuple[Path, Path]:
    """`--csv` as (Locust's CSV prefix, the records file), by CSV_RULE.

    Decided by the trailing slash or an existing directory, never by a dot in
    the name: `reports/nightly.1/` and `mktemp -d` directories are directories."""
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        return path / "locust", path / "records.jsonl"
    return path, path.with_name(path.name + "_records.jsonl")


@dataclass
class LoadResult:
    records: Any  # pandas.DataFrame of RequestRecords
    rows: list[dict[str, Any]]  # the same records as plain dicts (RequestRecord fields)
    stats: Any  # pandas.DataFrame of Locust's *_stats.csv (empty if Locust wrote none)
    exit_code: int
    output: str  # Locust's combined stdout/stderr (tail)
    duration_s: float


@dataclass
class LoadRun:
    profile: str | Path
    host: str
    duration_s: float = 30.0
    users: int = 10
    spawn_rate: float = 10.0
    csv_prefix: str | Path | None = None
    records_path: str | Path | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    user_classes: list[str] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)
    stop_timeout_s: float = 5.0
    # SIGTERM Locust when the process (strictly: the thread) that started it dies, even by SIGKILL
    die_with_parent: bool = False

    def __post_init__(self) -> None:
        self.locustfile = resolve_profile(self.profile)
        self._tmp = tempfile.TemporaryDirectory(prefix="harness-load-")
        tmp = Path(self._tmp.name)
        self.records_file = Path(self.records_path) if self.records_path else tmp / "records.jsonl"
        self.csv = str(self.csv_prefix) if self.csv_prefix else str(tmp / "locust")
        self.log_file = tmp / "locust.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._stop_asked = math.inf  # monotonic time of the first stop()

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "locust", "-f", str(self.locustfile), "--headless",
               "--host", self.host, "-u", str(self.users), "-r", str(self.spawn_rate),
               "-t", f"{max(1, round(self.duration_s))}s", "--stop-timeout", f"{max(1, round(self.stop_timeout_s))}s",
               "--csv", self.csv, "--records", str(self.records_file), "--only-summary",
               "--loglevel", "WARNING"]
        cmd += self.thresholds.as_args()
        return cmd + self.extra_args + self.user_classes

    def start(self) -> LoadRun:
        Path(self.csv).parent.mkdir(parents=True, exist_ok=True)
        self.records_file.parent.mkdir(parents=True, exist_ok=True)
        self.records_file.write_text("")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True,
                                            preexec_fn=terminate_with_parent if self.die_with_parent else None)
        self._started = time.monotonic()
        return self

    def stop(self) -> None:
        """Ask Locust to stop now (it still writes its CSV and records)."""
        if self.process and self.process.poll() is None:
            self._stop_asked = min(self._stop_asked, time.monotonic())
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> LoadResult:
        """The result once Locust has exited; past its time (duration + stop
        timeout + grace, or stop timeout + grace after stop()) it is killed."""
        process = self.process
        assert process is not None, "start() first"
        limit = timeout if timeout is not None else self.duration_s + self.stop_timeout_s + _GRACE_S
        wait_until(process, lambda: min(self._started + limit, self._stop_asked + self.stop_timeout_s + _GRACE_S))
        return self.result()

    def result(self) -> LoadResult:
        import json

        import pandas as pd

        rows = []
        if self.records_file.exists():
            for line in self.records_file.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue  # a line cut by a kill
        stats_csv = Path(f"{self.csv}_stats.csv")
        stats = pd.read_csv(stats_csv) if stats_csv.exists() else pd.DataFrame()
        output = self.log_file.read_text(errors="replace")[-4000:] if self.log_file.exists() else ""
        code = self.process.returncode if self.process and self.process.returncode is not None else -1
        return LoadResult(records=records_frame(rows), rows=rows, stats=stats, exit_code=code, output=output,
                          duration_s=time.monotonic() - self._started)

    def run(self) -> LoadResult:
        """Start and wait: the blocking form."""
        return self.start().wait()

    def __enter__(self) -> LoadRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if self.process is not None:
            wait_until(self.process, lambda: self._stop_asked + self.stop_timeout_s + 5)
