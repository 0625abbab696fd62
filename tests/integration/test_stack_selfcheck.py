"""The local stack watches itself: the mesh proxy and each engine export their
event-loop lag and CPU; a burst beyond the proxy's capacity shows as lag above
the bound, and the stack no longer vouches for its latencies."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.localstack.capacity import stream_capacity
from harness.localstack.looplag import LAG_METRIC
from harness.localstack.selfcheck import LAG_BOUND_S, stack_lag_verdict
from harness.localstack.testing import StackHandle, running_stack
from harness.localstack.topology import load_topology

pytestmark = pytest.mark.integration

BENCH = Path(__file__).parents[2] / "benchmarks" / "fixtures" / "mesh-bench"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with running_stack(topology=BENCH / "topology.yaml", istio=[BENCH / "istio"], prometheus=False,
                       state_dir=tmp_path_factory.mktemp("state")) as handle:
        yield handle


def _samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(url, timeout=30).text
    return {tuple(sorted(s.labels.items())): s.value for fam in text_string_to_metric_families(text)
            for s in fam.samples if s.name == name}


def test_the_proxy_and_each_engine_export_their_lag_and_cpu(stack: StackHandle) -> None:
    assert stack.state.mesh_admin is not None
    mesh = stack.state.mesh_admin + "/metrics"
    pod = stack.pods(ready=True)[0]
    engine = pod["url"] + "/metrics"
    assert list(_samples(mesh, LAG_METRIC)) == [(("component", "mesh"), ("pod", "mesh"))]
    assert list(_samples(engine, LAG_METRIC)) == [(("component", "engine"), ("pod", pod["name"]))]
    for url in (mesh, engine):
        assert list(_samples(url, "process_cpu_seconds_total").values())[0] > 0


async def _burst(port: int, streams: int) -> int:
    """Open `streams` streaming completions at once; return how many completed."""
    body = json.dumps({"model": "llama-3-8b", "messages": [{"role": "user", "content": "x"}],
                       "max_tokens": 10, "stream": True}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: chat\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body))

    async def one() -> bool:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            data = await reader.read()
            writer.close()
            return b"[DONE]" in data
        except OSError:
            return False

    return sum(await asyncio.gather(*(one() for _ in range(streams))))


async def _max_mesh_lag_during(stack: StackHandle, streams: int) -> tuple[float, int]:
    assert stack.state.mesh_admin is not None
    url = stack.state.mesh_admin + "/metrics"
    port = int(stack.state.gateway.rsplit(":", 1)[1])
    done = asyncio.Event()
    peak = 0.0

    async def watch() -> None:
        nonlocal peak
        async with httpx.AsyncClient(timeout=30) as client:
            while not done.is_set():
                text = (await client.get(url)).text
                for fam in text_string_to_metric_families(text):
                    for s in fam.samples:
                        if s.name == LAG_METRIC:
                            peak = max(peak, s.value)
                await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    completed = await _burst(port, streams)
    await asyncio.sleep(0.3)  # one more scrape inside the gauge's 1 s window
    done.set()
    await watcher
    return peak, completed


def test_a_burst_beyond_the_proxys_capacity_makes_the_stack_disown_its_latencies(stack: StackHandle) -> None:
    capacity = stream_capacity(load_topology(BENCH / "topology.yaml"))[0]
    started = time.monotonic()
    peak, completed = asyncio.run(_max_mesh_lag_during(stack, 6 * capacity))
    assert completed > 0, "the burst never got through the proxy"
    ok, reason = stack_lag_verdict(peak, LAG_BOUND_S)
    assert not ok, f"the proxy kept its loop within {LAG_BOUND_S * 1000:.0f} ms ({peak * 1000:.1f} ms) " \
                   f"through {6 * capacity} simultaneous streams in {time.monotonic() - started:.1f} s"
    assert "lower the load" in reason
