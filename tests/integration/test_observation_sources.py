"""The two local observation sources agree: who served the requests, from the
mesh's per-response header and from its telemetry in Prometheus (the source a
cluster uses), over the same requests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness.certify.traffic import Probe, send
from harness.localstack.testing import StackHandle, running_stack
from harness.observe import HeaderObservations, PrometheusObservations
from harness.observe.prometheus import PromClient

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    with running_stack(state_dir=tmp_path_factory.mktemp("state")) as handle:
        yield handle


@pytest.mark.parametrize("headers,by,service", [
    ({}, "version", "llm-chat"),  # the 80/20 canary: both versions, unequal shares
    ({"x-region": "us-west"}, "region", "llm-chat"),
    ({"x-model-type": "large"}, "workload", "llm-chat-large"),
])
def test_header_and_prometheus_agree(stack: StackHandle, headers: dict[str, str], by: str, service: str) -> None:
    prom = PromClient(stack.state.prometheus)
    model = "llama-3-70b" if service == "llm-chat-large" else "llama-3-8b"
    send(stack.state.gateway, [Probe(headers=headers, model=model)] * 5)  # every series exists before the window
    time.sleep(2.5)
    start = time.time()
    records = send(stack.state.gateway, [Probe(headers=headers, model=model)] * 300, concurrency=16)
    end = time.time()
    from_header = HeaderObservations(prom).shares(records, by, service, start, end)  # type: ignore[arg-type]
    from_prometheus = PrometheusObservations(prom).shares(records, by, service, start, end)  # type: ignore[arg-type]
    assert from_header and from_prometheus
    assert set(from_header) == set(from_prometheus), (from_header, from_prometheus)
    for key, share in from_header.items():
        assert from_prometheus[key] == pytest.approx(share, abs=1e-9), (from_header, from_prometheus)
    if by == "version":
        assert 0.1 < from_header["v2"] < 0.3  # both versions really were in the window


def test_prometheus_down_is_unknown_not_zero(stack: StackHandle) -> None:
    records = send(stack.state.gateway, [Probe()] * 5)
    dead = PrometheusObservations(PromClient("http://127.0.0.1:9", timeout_s=1.0))
    assert dead.shares(records, "version", "llm-chat", time.time() - 5, time.time() - 3) is None
    assert dead.request_count("llm-chat-shadow", time.time() - 5, time.time() - 3) is None


def test_fault_delayed_requests_are_counted_by_their_response_flag(stack: StackHandle) -> None:
    # the catch-all delays (100 %), the premium rule does not: only the standard requests carry DI
    from harness.certify.session import local_session
    from harness.chaos.actions import inject_latency, rollback_all

    configuration = local_session(stack.state).chaos_configuration
    prom = PromClient(stack.state.prometheus)
    premium = Probe(headers={"x-user-tier": "premium"})
    send(stack.state.gateway, [Probe(), premium] * 3)  # every series exists before the window
    time.sleep(2.5)
    try:
        inject_latency("llm-chat", fixed_delay="0.05s", percentage=100.0, route="default-canary",
                       configuration=configuration)
        start = time.time()
        records = send(stack.state.gateway, [Probe()] * 20 + [premium] * 12, concurrency=8)
        end = time.time()
    finally:
        rollback_all(configuration)
    assert records["ok"].all(), records["status"].value_counts()
    observed = PrometheusObservations(prom)
    assert observed.request_count("llm-chat", start, end, response_flag="DI") == 20
    assert observed.request_count("llm-chat", start, end) == 32
