"""How much load the local stack can carry before it, not the mesh it stands
in for, shapes the latencies: a check run before `harness load` and
`harness certify` start against a local stack.

Both limits are token frames per second (a stream at decode step s ms sends
1000 / s frames a second), measured on a 2-core machine with the load
client, the proxy and the engines sharing the cores; a topology's stream
capacity follows from its fastest decode step (the most frames per stream).
Each Locust user holds at most one stream at a time, so users bound the
streams in flight.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.localstack.state import read_state
from harness.localstack.topology import Topology, load_topology

__all__ = ["ENGINE_FRAMES_PER_S", "PROXY_FRAMES_PER_S", "check_certify_load", "check_load", "check_stack_load", "stream_capacity"]

# One engine process: 250 streams at a 20 ms step keep token lateness p99 at
# the 5 ms budget (benchmarks/engine_capacity.py, README "Performance").
ENGINE_FRAMES_PER_S = 250 * 50
# The mesh proxy, one process carrying every stream of the stack: measured
# with the engine and the load client on the same 2 cores
# (benchmarks/mesh_overhead.py, 3 runs each, 2026-12-02), 250 streams at a
# 20 ms step keep the 200-stream budgets (TTFT overhead p99 3.4-4.2 ms, chunk
# hold-back p99 <= 1.0 ms, loop lag max 5-19 ms) and so do 300 (p99 4.4-7.2
# ms); at 500 it is CPU-bound (p99 84-153 ms). 250 is the capacity stated,
# with the margin a loaded CI machine needs.
PROXY_FRAMES_PER_S = 250 * 50


def stream_capacity(topology: Topology) -> tuple[int, str]:
    """(streams, what limits them): the concurrent streams the stack carries."""
    engines = sum(d.replicas for d in topology.deployments if d.engine.kind == "generate")
    step_ms = min((d.engine.decode_step_ms for d in topology.deployments if d.engine.kind == "generate"),
                  default=20.0)
    per_stream = 1000.0 / step_ms
    by_proxy = int(PROXY_FRAMES_PER_S / per_stream)
    by_engines = int(engines * ENGINE_FRAMES_PER_S / per_stream)
    if by_proxy <= by_engines:
        return by_proxy, (f"the mesh proxy relays about {PROXY_FRAMES_PER_S:,} token frames/s, "
                          f"{by_proxy} streams at a {step_ms:g} ms decode step")
    return by_engines, (f"{engines} engine process(es) at about {ENGINE_FRAMES_PER_S:,} token frames/s each, "
                        f"{by_engines} streams at a {step_ms:g} ms decode step")


def check_load(users: int, topology: Topology) -> str | None:
    """None when `users` concurrent streams fit the stack's measured capacity;
    otherwise one message saying the capacity and how to lower the load."""
    capacity, why = stream_capacity(topology)
    if users <= capacity:
        return None
    return (f"{users} users can hold {users} streams at once, more than this local stack carries "
            f"({capacity}: {why}); above it the test double's own delays would show up as the mesh's "
            f"latency. Lower the load to --users {capacity} or fewer, or run it against a cluster")


def check_certify_load(requirements: Sequence[tuple[str, int]], topology: Topology) -> str | None:
    """None when every requirement's peak streams, (id, streams), fit the
    stack's measured capacity; otherwise one message naming the largest, the
    capacity and what to do."""
    if not requirements:
        return None
    rid, streams = max(requirements, key=lambda r: r[1])
    capacity, why = stream_capacity(topology)
    if streams <= capacity:
        return None
    fitting = sorted(r for r, n in requirements if n <= capacity)
    return (f"requirement {rid} holds {streams} requests in flight at once, more than this local stack carries "
            f"({capacity}: {why}); above it the test double's own delays would show up as the mesh's latency. "
            f"Certify on a stack with more capacity (more engine replicas, a slower decode step), select "
            f"requirements that fit ({len(fitting)} of {len(requirements)} do, e.g. --requirement "
            f"{fitting[0] if fitting else rid}), or run it against a cluster (--target kube)")


def check_stack_load(users: int, stack: str) -> str | None:
    """`check_load` against the running local stack named `stack` (its
    topology file from the stack's state); None when no such stack runs."""
    state = read_state(stack)
    if state is None or not state.topology:
        return None
    return check_load(users, load_topology(state.topology))
