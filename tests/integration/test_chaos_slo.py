"""SLO probes read the mesh's telemetry from the stack's Prometheus; a guard
SLO that burns aborts a run and its faults are rolled back; a probe with no
data is inconclusive, never a pass."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness.chaos import actions, probes
from harness.chaos.errors import ChaosActionFailed
from harness.chaos.faults import fault
from harness.chaos.journal import Journal
from harness.chaos.runner import ChaosRun, Guard
from harness.localstack.testing import StackHandle, eventually

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parent / "fixtures"
CHAT = {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


WITH_PROMETHEUS = True  # read by the mesh_stack fixture (conftest.py)


class Traffic:
    """Background requests through the gateway, bounded in time, until stopped.
    A fault answers (503 from an abort); a request that gets no answer at all
    is a failure of the stack, raised when the block ends."""

    def __init__(self, gateway: str, headers: dict[str, str] | None = None, seconds: float = 60) -> None:
        self.stop = threading.Event()
        self.errors: list[httpx.HTTPError] = []
        self.thread = threading.Thread(target=self._run, args=(gateway, headers or {}, seconds), daemon=True)

    def _run(self, gateway: str, headers: dict[str, str], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with httpx.Client(timeout=10) as c:
            while not self.stop.is_set() and time.monotonic() < deadline:
                try:
                    c.post(f"{gateway}/v1/chat/completions", json=CHAT, headers=headers)
                except httpx.HTTPError as exc:
                    self.errors.append(exc)
                    return

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(15)
        if self.errors and exc[0] is None:
            raise AssertionError(f"background request got no answer: {self.errors[0]!r}")


def test_availability_probe_sees_an_injected_abort(mesh_stack: StackHandle, chaos_config: dict) -> None:
    with Traffic(mesh_stack.state.gateway, {"x-version": "v1"}):
        eventually(lambda: measured(lambda: probes.slo_availability("chat", "10s", chaos_config)) == 1.0, 30,
                   "availability 1.0 in Prometheus")
        with fault(actions.inject_abort, virtual_service="chat", route="pinned-v1", configuration=chaos_config):
            eventually(lambda: below(measured(lambda: probes.slo_availability("chat", "5s", chaos_config)), 0.5), 30,
                       "availability to fall under the abort")


def test_ttft_probe_reads_the_engines_histogram(mesh_stack: StackHandle, chaos_config: dict) -> None:
    with cf.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: httpx.post(f"{mesh_stack.state.gateway}/v1/chat/completions", json=CHAT, timeout=30),
                      range(20)))
    value = eventually(lambda: measured(lambda: probes.slo_ttft_p95_ms("llama-3-8b", "30s", chaos_config)), 30,
                       "a TTFT p95")
    assert isinstance(value, float) and 0 < value < 5000


def test_no_data_is_inconclusive_not_a_pass(chaos_config: dict) -> None:
    from chaoslib.exceptions import ActivityFailed

    with pytest.raises(ActivityFailed, match="inconclusive"):
        probes.slo_availability("no-such-service", "30s", chaos_config)


def test_an_unreachable_prometheus_is_inconclusive_not_a_pass() -> None:
    config = {"harness_target": "local", "harness_prometheus_url": "http://127.0.0.1:9"}
    with pytest.raises(ChaosActionFailed, match=r"Prometheus query failed .*the probe is inconclusive"):
        probes.slo_availability("chat", "30s", config)


def test_guard_slo_breach_aborts_the_run_and_rolls_back(mesh_stack: StackHandle, tmp_path: Path, chaos_config: dict) -> None:
    import sys
    sys.path.insert(0, str(FIXTURES / "chaos"))
    journal = tmp_path / "guarded.jsonl"
    guard = Guard(lambda: probes.slo_availability("chat", "5s", chaos_config), 0.5, interval=1.0,
                  description="availability of chat")
    try:
        with Traffic(mesh_stack.state.gateway, {"x-version": "v1"}):
            outcome = ChaosRun(FIXTURES / "chaos" / "abort-then-wait.yaml", stack=mesh_stack.state.name,
                               journal_path=journal, guard=guard).run()
    finally:
        sys.path.remove(str(FIXTURES / "chaos"))
    assert outcome.status == "aborted" and "availability of chat" in outcome.reason
    assert outcome.exit_code == 1
    assert [e.state for e in Journal(journal).entries()] == ["rolled_back"]
    r = httpx.post(f"{mesh_stack.state.gateway}/v1/chat/completions", json=CHAT, headers={"x-version": "v1"}, timeout=30)
    assert r.status_code == 200


def measured(probe: Callable[[], float]) -> float | None:
    """The probe's value, or None while it is inconclusive (no data in
    Prometheus yet); any other failure is a real one and propagates."""
    try:
        return probe()
    except ChaosActionFailed as exc:
        if "inconclusive" not in str(exc):
            raise
        return None


def below(value: float | None, limit: float) -> bool:
    """A measured value under the limit; nothing measured is not below anything (0.0 is)."""
    return value is not None and value < limit
