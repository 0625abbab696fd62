"""Is the local stack itself fast enough for a latency verdict?

A TTFT or latency check on the local stack judges the mesh only while the
stack's own processes keep up. When the proxy's or an engine's event loop
lags (it relays a burst bigger than it can carry, or waits for a core on a
loaded machine), that lag lands in every latency the client measures, and a
failed latency check would blame the mesh for the test double. The
certification reads the largest `localstack_event_loop_lag_seconds` over the
check's window (`lag_query(window_s)`, PromQL over the stack's Prometheus,
which scrapes the proxy and every engine) and marks latency verdicts
inconclusive when it exceeds the bound.

The bound, `LAG_BOUND_S` (50 ms): five times the proxy's TTFT overhead
budget at p99 (10 ms, docs/mesh-proxy.md, "Performance") and well above
what the stack's loops show at the proxy's measured capacity (the lag figures
there). A stall above it is big enough to move a p99 by whole decode steps;
one below it is within the proxy's own budget.
"""

from __future__ import annotations

import math

from harness.localstack.looplag import LAG_METRIC

__all__ = ["LAG_BOUND_S", "lag_query", "stack_lag_verdict"]

LAG_BOUND_S = 0.050


def stack_lag_verdict(max_lag_s: float | None, bound_s: float = LAG_BOUND_S) -> tuple[bool, str]:
    """(ok, reason): ok when the local stack's largest event-loop lag over a
    verdict's window, `max_lag_s`, is within `bound_s`. Not ok when it is
    above, or unknown (None or NaN: the stack's own health was not observed,
    so its latencies cannot be vouched for)."""
    if not bound_s > 0 or math.isinf(bound_s):
        raise ValueError(f"bound_s must be a positive number of seconds, got {bound_s!r}")
    if max_lag_s is None or math.isnan(max_lag_s):
        return False, ("the local stack's event-loop lag was not observed during the window "
                       "(no localstack_event_loop_lag_seconds samples), so its own latency cannot be ruled out")
    if max_lag_s > bound_s:
        return False, (f"the local stack's own event-loop lag reached {max_lag_s * 1000:.0f} ms during the window "
                       f"(bound {bound_s * 1000:.0f} ms): the test double, not the mesh, may have added the "
                       f"latency; lower the load (harness load --users) or free the machine's cores")
    return True, (f"the local stack's event-loop lag stayed within {bound_s * 1000:.0f} ms "
                  f"(max {max_lag_s * 1000:.1f} ms)")


def lag_query(window_s: float) -> str:
    """PromQL: the largest event-loop lag any local-stack process reported
    over the `window_s` seconds ending at the query's evaluation time."""
    if not window_s > 0 or math.isinf(window_s):
        raise ValueError(f"window_s must be a positive number of seconds, got {window_s!r}")
    return f"max(max_over_time({LAG_METRIC}[{max(1, math.ceil(window_s))}s]))"
