"""The shipped experiments judge a promise with a sample sized for it: each
sized probe's request count is the exact-binomial sample for its stated
expectation, threshold and false-failure probability, and its tolerance is
that threshold; every file carries the control that fails a run whose fault
was not injected, and judges nothing in the method (Chaos Toolkit does not
judge a method probe's tolerance)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.analysis.stats import sample_size_for_share
from harness.chaos.control import after_experiment_control

EXPERIMENTS = sorted((Path(__file__).parents[3] / "experiments").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def sampling(doc: dict[str, Any]) -> dict[str, dict[str, float]]:
    ext = next(e for e in doc.get("extensions", []) if e["name"] == "harness-sampling")
    return dict(ext["probes"])


def test_all_six_experiments_are_checked() -> None:
    assert {p.stem for p in EXPERIMENTS} == {"pod-kill", "gpu-oom", "latency", "abort", "region-outage",
                                             "canary-bad-release"}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_each_sized_probe_uses_the_computed_sample(path: Path) -> None:
    doc = load(path)
    probes = {p["name"]: p for p in doc["steady-state-hypothesis"]["probes"]}
    sized = sampling(doc)
    assert sized, "no probe states its sample"
    for name, spec in sized.items():
        probe = probes[name]
        if "errors_allowed" in spec:  # a count budget (errors that are not independent draws)
            assert probe["provider"]["arguments"]["requests"] == spec["requests"], name
            share = 1 - spec["errors_allowed"] / spec["requests"]
            assert probe["tolerance"] == {"type": "range", "range": [share, 1.0]}, name
            continue
        n = sample_size_for_share(spec["expected"], round(spec["expected"] - spec["threshold"], 9), spec["false_fail"])
        assert probe["provider"]["arguments"]["requests"] == n, name
        assert probe["tolerance"] == {"type": "range", "range": [spec["threshold"], 1.0]}, name
        comment = " ".join(line.lstrip("# ") for line in path.read_text().splitlines() if line.startswith("#"))
        assert f"-> {n} requests" in " ".join(comment.split()), f"the header comment states {n} for {name}"
    for probe in probes.values():  # an early stop must not change the verdict: it stops at the threshold
        args = probe["provider"].get("arguments", {})
        if "stop_below" in args:
            assert args["stop_below"] == probe["tolerance"]["range"][0], probe["name"]
    # every share the hypothesis judges is sized
    shares = [p["name"] for p in probes.values() if "requests" in p["provider"].get("arguments", {})]
    assert sorted(shares) == sorted(sized)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_each_experiment_fails_when_its_fault_is_not_injected_and_judges_after_the_method(path: Path) -> None:
    doc = load(path)
    assert {"name": "no-false-pass", "provider": {"type": "python", "module": "harness.chaos.control"}} in doc["controls"]
    assert all(a["type"] == "action" for a in doc["method"])  # probes there would look judged and are not
    assert "meant to deviate" not in path.read_text()


def activity(name: str, kind: str, status: str) -> dict[str, Any]:
    return {"activity": {"type": kind, "name": name}, "status": status,
            "exception": ["harness.chaos.errors.ChaosActionFailed: blast radius 60% over 50%\n"]}


def test_control_fails_a_completed_run_whose_action_failed() -> None:
    journal: dict[str, Any] = {"status": "completed", "run": [activity("kill-one", "action", "failed")]}
    after_experiment_control({}, state=journal)
    assert journal["status"] == "failed"


@pytest.mark.parametrize("journal", [
    {"status": "completed", "run": [activity("kill-one", "action", "succeeded"), activity("p", "probe", "failed")]},
    {"status": "interrupted", "run": [activity("kill-one", "action", "failed")]},
    {"status": "completed", "run": None},
])
def test_control_leaves_other_runs_alone(journal: dict[str, Any]) -> None:
    before = dict(journal)
    after_experiment_control({}, state=journal)
    assert journal == before
