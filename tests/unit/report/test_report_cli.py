"""`harness report ...` exit codes and error lines (no browser, no Allure run)."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "harness", "report", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def _summary(run_id: str, started: float, verdict: str, availability: float) -> dict[str, Any]:
    check = {"name": "availability", "verdict": verdict, "observed": availability, "threshold": 0.99, "unit": "",
             "reason": "", "evidence": []}
    return {"run_id": run_id, "started": started, "target": "local", "profile": "smoke", "score": 100.0,
            "exit_code": 0, "counts": {}, "features": {},
            "requirements": [{"id": "routing.canary-split", "verdict": verdict, "checks": [check], "evidence": []}]}


def _runs(root: Path, verdicts: list[str]) -> Path:
    for i, v in enumerate(verdicts):
        (root / f"run-{i}").mkdir(parents=True)
        (root / f"run-{i}" / "summary.json").write_text(json.dumps(_summary(f"run-{i}", 1.78e9 + i, v, 1.0)))
    return root


def test_trend_exits_1_on_a_regression_and_0_without(tmp_path: Path) -> None:
    bad = harness("trend", str(_runs(tmp_path / "a", ["pass", "pass", "fail"])))
    assert bad.returncode == 1, bad.stderr
    assert "regression: routing.canary-split passed in run-1 and fails in run-2" in bad.stdout
    data = json.loads((tmp_path / "a" / "trend.json").read_text())
    assert data["requirements"]["routing.canary-split"]["figures"]["availability"] == [1.0, 1.0, 1.0]
    assert (tmp_path / "a" / "trend.html").is_file()
    good = harness("trend", str(_runs(tmp_path / "b", ["fail", "pass", "pass"])))
    assert good.returncode == 0 and "0 regressions" in good.stdout


@pytest.mark.parametrize("args,words", [
    (["trend", "{tmp}"], "holds no run"),
    (["trend", "{tmp}/missing"], "is not a directory"),
    (["summary", "{tmp}"], "summary.json: cannot be read"),
    (["allure", "{tmp}/run-0"], "the Allure command line is not installed"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    if args[0] == "allure":
        _runs(tmp_path, ["pass"])
        (tmp_path / "run-0" / "allure-results").mkdir()
        (tmp_path / "run-0" / "allure-results" / "x-result.json").write_text("{}")
    done = harness(*[a.format(tmp=tmp_path) for a in args], env={"HARNESS_ALLURE": str(tmp_path / "no-allure")})
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in done.stderr
    if args[0] == "allure":
        assert "scripts/setup.sh" in lines[0]
