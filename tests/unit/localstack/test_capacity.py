"""A load shape the local stack cannot carry is refused before it starts."""

from __future__ import annotations

from pathlib import Path

from harness.localstack.capacity import ENGINE_FRAMES_PER_S, PROXY_FRAMES_PER_S, check_load, stream_capacity
from harness.localstack.topology import Topology, load_topology

REFERENCE = Path(__file__).parents[3] / "reference-stack" / "local" / "topology.yaml"


def _topology(replicas: int, step_ms: float) -> Topology:
    return Topology.model_validate({
        "apiVersion": "harness.llm-mesh.dev/v1", "kind": "LocalTopology", "gatewayRegion": "us-east",
        "regions": ["us-east"],
        "deployments": [{"name": "chat", "region": "us-east", "replicas": replicas, "labels": {"app": "chat"},
                         "engine": {"decodeStepMs": step_ms}}]})


def test_the_proxy_limits_many_engines_and_the_engines_limit_too_few() -> None:
    many, why = stream_capacity(_topology(8, 20))
    assert many == PROXY_FRAMES_PER_S // 50 and "mesh proxy" in why
    assert stream_capacity(_topology(1, 20))[0] == min(PROXY_FRAMES_PER_S, ENGINE_FRAMES_PER_S) // 50
    none, why = stream_capacity(_topology(0, 20))
    assert none == 0 and "0 engine process(es)" in why


def test_a_slower_decode_step_carries_more_streams() -> None:
    assert stream_capacity(_topology(8, 40))[0] == 2 * stream_capacity(_topology(8, 20))[0]


def test_load_within_capacity_passes_and_beyond_it_says_the_capacity_and_the_fix() -> None:
    topology = _topology(8, 20)
    capacity = stream_capacity(topology)[0]
    assert check_load(capacity, topology) is None
    message = check_load(capacity + 1, topology)
    assert message is not None
    assert f"{capacity + 1} users" in message and f"({capacity}:" in message
    assert f"--users {capacity} or fewer" in message


def test_the_reference_topology_has_a_stated_capacity() -> None:
    capacity, why = stream_capacity(load_topology(REFERENCE))
    assert capacity > 100 and "decode step" in why
