"""Each shipped experiment keeps its promise on the reference stack (exit 0
under `harness chaos run`) and deviates (exit 1) on the same stack with the
policy behind the promise removed, and stock `chaos run` fails a run whose
fault was refused. One stack serves every run: each broken policy is put back
before the next run."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.localstack.testing import StackHandle, running_stack
from harness.targets.base import IstioKind
from harness.targets.local import LocalTarget
from harness.targets.objects import writable_copy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPERIMENTS = Path(__file__).parents[2] / "experiments"
Edit = Callable[[dict[str, Any]], None]


def drop_rule(name: str) -> Edit:
    def edit(spec: dict[str, Any]) -> None:
        spec["http"] = [r for r in spec["http"] if r["name"] != name]
    return edit


def canary_weight(v2: int) -> Edit:
    def edit(spec: dict[str, Any]) -> None:
        route = next(r for r in spec["http"] if r["name"] == "default-canary")["route"]
        for d in route:
            d["weight"] = v2 if d["destination"]["subset"] == "v2" else 100 - v2
    return edit


def failover_from_us_east_to(region: str) -> Edit:
    def edit(spec: dict[str, Any]) -> None:
        failover = spec["trafficPolicy"]["loadBalancer"]["localityLbSetting"]["failover"]
        next(f for f in failover if f["from"] == "us-east")["to"] = region
    return edit


# experiment -> the policy its promise rests on, removed or changed
BROKEN: dict[str, tuple[IstioKind, str, Edit]] = {
    "abort": ("VirtualService", "llm-chat", drop_rule("premium-tier")),
    "latency": ("VirtualService", "llm-chat", drop_rule("premium-tier")),
    "canary-bad-release": ("VirtualService", "llm-chat", canary_weight(50)),
    "region-outage": ("DestinationRule", "llm-chat", failover_from_us_east_to("eu-west")),
}
# pod-kill and gpu-oom have none here: the local orchestrator takes a dead
# engine out of the endpoints (readiness) and restarts it within a second or
# two, so without retries or outlier detection a client sees a handful more
# errors at most, too few for a sized verdict (docs/chaos.md).


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def stack(state_dir: Path) -> Iterator[StackHandle]:
    with running_stack(prometheus=False, state_dir=state_dir) as handle:
        yield handle


@contextlib.contextmanager
def broken(stack: StackHandle, kind: IstioKind, name: str, edit: Edit) -> Iterator[None]:
    target = LocalTarget(admin=stack.state.admin, mesh_admin=stack.state.mesh_admin)
    original = target.get_istio(kind, name)
    changed = writable_copy(original, keep_version=True)
    edit(changed["spec"])
    target.replace_istio(kind, name, changed)
    try:
        yield
    finally:
        target.replace_istio(kind, name, writable_copy(original, keep_version=False))


def chaos_run(stack: StackHandle, state_dir: Path, tmp_path: Path, experiment: Path,
              stock: bool = False) -> tuple[int, dict[str, Any]]:
    """Run an experiment; its exit code and Chaos Toolkit's run journal."""
    ctk = tmp_path / f"{experiment.stem}-journal.json"
    env = {**os.environ, "HARNESS_STATE_DIR": str(state_dir), "HARNESS_STACK": stack.state.name}
    if stock:
        cmd = [str(Path(sys.executable).parent / "chaos"), "run", "--journal-path", str(ctk), str(experiment)]
    else:
        cmd = [sys.executable, "-m", "harness", "chaos", "run", str(experiment), "--stack", stack.state.name,
               "--journal", str(tmp_path / "faults.jsonl"), "--ctk-journal", str(ctk)]
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    journal = json.loads(ctk.read_text()) if ctk.exists() else {}
    return r.returncode, journal


def after(journal: dict[str, Any]) -> dict[str, Any]:
    """The hypothesis probes' outputs after the method (for the failure message)."""
    state = (journal.get("steady_states") or {}).get("after") or {}
    return {p["activity"]["name"]: p.get("output") for p in state.get("probes", [])}


@pytest.mark.parametrize("name", ["pod-kill", "gpu-oom", "latency", "abort", "region-outage", "canary-bad-release"])
def test_experiment_keeps_its_promise_on_the_reference_stack(stack: StackHandle, state_dir: Path, tmp_path: Path,
                                                             name: str) -> None:
    code, journal = chaos_run(stack, state_dir, tmp_path, EXPERIMENTS / f"{name}.yaml")
    assert code == 0, (journal.get("status"), after(journal))
    assert journal["deviated"] is False


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_experiment_deviates_with_the_policy_behind_it_removed(stack: StackHandle, state_dir: Path,
                                                               tmp_path: Path, name: str) -> None:
    kind, obj, edit = BROKEN[name]
    with broken(stack, kind, obj, edit):
        code, journal = chaos_run(stack, state_dir, tmp_path, EXPERIMENTS / f"{name}.yaml")
    assert code == 1, (journal.get("status"), after(journal))
    assert journal["deviated"] is True, journal.get("status")


def test_stock_chaos_run_fails_when_the_fault_is_refused(stack: StackHandle, state_dir: Path, tmp_path: Path) -> None:
    experiment = (EXPERIMENTS / "pod-kill.yaml").read_text().replace(
        'arguments: {selector: "app=llm-chat,version=v1,pool=standard,region=us-east", count: 1, seed: 1}',
        'arguments: {selector: "app=llm-chat", percent: 100}')  # the whole workload: over the blast-radius cap
    assert "percent: 100" in experiment
    path = tmp_path / "too-wide-kill.yaml"
    path.write_text(experiment)
    before = {p["name"] for p in stack.pods(ready=True)}
    code, journal = chaos_run(stack, state_dir, tmp_path, path, stock=True)
    assert journal["run"][0]["status"] == "failed"  # refused by the blast-radius cap
    assert (code, journal["status"], journal["deviated"]) == (1, "failed", False)
    assert {p["name"] for p in stack.pods(ready=True)} == before  # nothing was killed
