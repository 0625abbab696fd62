"""`harness report allure`: the Allure report of a run as one HTML file.

Uses the Allure 3 command line (the `allure` npm package) that
`scripts/setup.sh` installs into the project's `node_modules/`, or one named
by `HARNESS_ALLURE`, or `allure` on PATH. History carries over between runs
through Allure 3's history file (`historyPath`), kept beside the runs
(`reports/allure-history.jsonl` by default), so nightly CI gets its trend
graphs by keeping the reports directory between jobs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.diagnostics import ConfigError, Diagnostic

__all__ = ["find_allure", "build_allure_report", "AllureBuild", "INSTALL_HINT", "ALLURE_VERSION"]

ALLURE_VERSION = "3.18.0"  # the version package.json pins
PROJECT = Path(__file__).resolve().parents[2]
INSTALL_HINT = (f"install it with 'bash scripts/setup.sh' (npm install of allure@{ALLURE_VERSION} into the project's "
                "node_modules/, Node >= 20), or point HARNESS_ALLURE at an Allure 3 'allure' executable")


@dataclass(frozen=True)
class AllureBuild:
    report: Path  # the single HTML file
    history: Path
    command: list[str]


def find_allure() -> str | None:
    """The Allure 3 executable: HARNESS_ALLURE, the project's node_modules, PATH."""
    named = os.environ.get("HARNESS_ALLURE")
    if named:
        return named if Path(named).is_file() else None
    local = PROJECT / "node_modules" / ".bin" / "allure"
    if local.is_file():
        return str(local)
    return shutil.which("allure")


def _config(name: str, output: Path, history: Path) -> str:
    # Allure 3's `allure2` plugin (the classic report: suites, behaviours by
    # epic / feature / story, history trend): unlike `awesome`, it honours
    # ALLURE_NO_ANALYTICS, so the page makes no request when opened
    options = {"singleFile": True, "reportName": name}
    return ("export default " + json.dumps({
        "name": name, "output": str(output), "historyPath": str(history),
        "plugins": {"allure2": {"options": options}},
    }, indent=2) + ";\n")


def build_allure_report(run_dir: Path, history: Path | None = None, timeout_s: float = 300.0) -> AllureBuild:
    """Generate `<run_dir>/allure-report/index.html` from `<run_dir>/allure-results`;
    ConfigError (one line) when the run or Allure is missing or Allure fails."""
    results = run_dir / "allure-results"
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ConfigError(Diagnostic("error", str(run_dir), "has no allure-results/ with results",
                                     fix="pass a run directory 'harness certify' wrote (reports/<run-id>)"))
    allure = find_allure()
    if allure is None:
        raise ConfigError(Diagnostic("error", "allure", "the Allure command line is not installed",
                                     fix=INSTALL_HINT))
    history = history or run_dir.parent / "allure-history.jsonl"
    history.parent.mkdir(parents=True, exist_ok=True)
    output = run_dir / "allure-report"
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        name = f"Certification {summary['run_id']} ({summary['target']}, {summary['profile']})"
    except (OSError, ValueError, KeyError):
        name = f"Certification {run_dir.name}"
    config = run_dir / "allurerc.mjs"
    config.write_text(_config(name, output.resolve(), history.resolve()))
    command = [allure, "generate", "--config", str(config.resolve()), str(results.resolve())]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False,
                              cwd=run_dir, env={**os.environ, "ALLURE_NO_ANALYTICS": "true"})
    except subprocess.TimeoutExpired:
        raise ConfigError(Diagnostic("error", "allure", f"allure generate took longer than {timeout_s:g} s",
                                     fix="rerun it; if it persists, run the command by hand to see why")) from None
    except OSError as exc:
        raise ConfigError(Diagnostic("error", "allure", f"cannot run {allure}: {exc.strerror}",
                                     fix=INSTALL_HINT)) from None
    report = output / "index.html"
    if done.returncode != 0 or not report.is_file():
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise ConfigError(Diagnostic("error", "allure", f"allure generate failed (exit {done.returncode}): {last[0]}",
                                     fix="run: " + " ".join(command)))
    return AllureBuild(report, history, command)
