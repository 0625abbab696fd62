"""A TTFT verdict on the local stack driven past its capacity is inconclusive,
never failed: the test double must not be the reason for a verdict.

The pair of runs makes the point both ways: with an SLO no stack can keep
(TTFT p95 <= 1 ms) the TTFT check fails while the stack keeps up, and the same
check becomes inconclusive, naming the stack's own lag, while bursts of
streams far beyond the proxy's measured capacity go through the gateway."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.certify.registry import discover
from harness.certify.runner import run_requirement
from harness.certify.session import TargetSession, context_for, local_session
from harness.certify.slo import DEFAULT_SLO, load_slo
from harness.localstack.capacity import stream_capacity
from harness.localstack.testing import running_stack
from harness.localstack.topology import load_topology
from harness.verdict import Check, Verdict

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REFERENCE_TOPOLOGY = Path(__file__).parents[2] / "reference-stack" / "local" / "topology.yaml"
REQUIREMENT = next(r for r in discover() if r.id == "latency.ttft-slo")
SCALE = 0.5  # a 10 s load instead of 20 s: enough requests for the p95, half the time


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetSession]:
    with running_stack(state_dir=tmp_path_factory.mktemp("state")) as handle:
        yield local_session(handle.state)


@pytest.fixture(scope="module")
def impossible_slo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference SLOs with a TTFT p95 of 1 ms for chat: every run misses it."""
    text = DEFAULT_SLO.read_text()
    assert "ttftP95: 1s" in text
    path = tmp_path_factory.mktemp("slo") / "impossible.yaml"
    path.write_text(text.replace("ttftP95: 1s", "ttftP95: 1ms", 1))
    return path


def _ttft(checks: list[Check]) -> Check:
    return next(c for c in checks if c.name == "ttft p95")


async def _bursts(port: int, streams: int, stop: threading.Event, deadline: float) -> int:
    """Bursts of `streams` simultaneous streaming completions until `stop` or
    `deadline` (monotonic); returns how many bursts were sent."""
    body = json.dumps({"model": "llama-3-8b", "messages": [{"role": "user", "content": "overload"}],
                       "max_tokens": 20, "stream": True}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: llm-chat\r\nContent-Type: application/json\r\n"
               b"x-user-tier: standard\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))

    async def one() -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await asyncio.wait_for(reader.read(), 60)
            writer.close()
        except (OSError, TimeoutError):
            pass

    sent = 0
    while not stop.is_set() and time.monotonic() < deadline:
        await asyncio.gather(*(one() for _ in range(streams)))
        sent += 1
    return sent


def test_ttft_fails_an_impossible_slo_while_the_stack_keeps_up(
        session: TargetSession, impossible_slo: Path, tmp_path: Path) -> None:
    result = run_requirement(REQUIREMENT, context_for(REQUIREMENT, tmp_path, session, load_slo(impossible_slo),
                                                      duration_scale=SCALE))
    ttft = _ttft(result.checks)
    assert ttft.verdict is Verdict.FAIL, f"{ttft.verdict.value}: {ttft.reason}"


def test_ttft_is_inconclusive_not_failed_when_the_stack_is_driven_past_its_capacity(
        session: TargetSession, impossible_slo: Path, tmp_path: Path) -> None:
    capacity = stream_capacity(load_topology(REFERENCE_TOPOLOGY))[0]
    port = int(session.gateway.rstrip("/").rsplit(":", 1)[1])
    stop = threading.Event()
    sent: list[int] = []
    overload = threading.Thread(target=lambda: sent.append(asyncio.run(
        _bursts(port, 6 * capacity, stop, time.monotonic() + 120))), daemon=True)
    overload.start()
    try:
        result = run_requirement(REQUIREMENT, context_for(REQUIREMENT, tmp_path, session, load_slo(impossible_slo),
                                                          duration_scale=SCALE))
    finally:
        stop.set()
        overload.join(90)
    assert sent and sent[0] > 0, "no burst went through the gateway"
    ttft = _ttft(result.checks)
    assert ttft.verdict is Verdict.INCONCLUSIVE, f"{ttft.verdict.value}: {ttft.reason}"
    assert "event-loop lag" in ttft.reason and "lower the load" in ttft.reason
