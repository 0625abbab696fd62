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

A failure while the stack lagged is not always the double's doing: one
stall on a loaded CI machine (a garbage collection, a core taken away for a
moment) while a broken mesh adds a whole second to every request must not
hide that second. `Stalls` locates the stack's stalls in time
(`stalls_query`, sampled each second): when it lagged in at most
`MAX_STALLED_SHARE` of those seconds, the stack was hiccuping, not
overloaded, and a latency figure can be judged again on the requests clear
of every stall (each stall widened to cover where it may have begun and the
work queued behind it). A stack past its capacity lags through most of the
window, so its failures stay inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.localstack.looplag import LAG_METRIC, WINDOW_S

__all__ = ["LAG_BOUND_S", "MAX_STALLED_SHARE", "Stalls", "lag_query", "stack_lag_verdict", "stalls_query"]

LAG_BOUND_S = 0.050
# Lagging in at most half the window's seconds: the stack kept up for most of
# it and hiccuped. Beyond, it was short of capacity, and queueing spreads a
# short stack's latency to every request. (The share of seconds, not of the
# widened intervals: each widens a one-second point to about 3 s of doubt
# about where the stall was, which says nothing of how long the stack lagged.)
MAX_STALLED_SHARE = 0.5
STALLS_STEP_S = 1.0
# A point of `stalls_query` at t covers the gauge samples scraped in
# (t - 1 s, t] (one per second), each the largest lag of the second before it:
# a stall it shows began no earlier than t - 2 s - lag. Work queued behind it
# drains within the next second on a stack that keeps up.
_STALL_BEFORE_S = STALLS_STEP_S + WINDOW_S
_DRAIN_AFTER_S = 1.0


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


def stalls_query() -> str:
    """PromQL for a range query at a 1 s step: the largest event-loop lag any
    local-stack process reported in the second up to each point (every
    scrape of the 1 s scrape interval is seen once)."""
    return f"max(max_over_time({LAG_METRIC}[1s]))"


@dataclass(frozen=True)
class Stalls:
    """Where in time the local stack's loops lagged beyond the bound: merged
    (start, end) intervals in epoch seconds, each widened to cover the stall
    and the work that queued behind it."""

    intervals: tuple[tuple[float, float], ...]
    max_lag_s: float
    stalled_seconds: int = 0  # points of `stalls_query` above the bound
    seconds: int = 0  # points observed

    @property
    def stalled_share(self) -> float:
        """The share of the observed seconds in which the stack lagged past the bound."""
        return self.stalled_seconds / self.seconds if self.seconds else 0.0

    @classmethod
    def from_points(cls, points: Sequence[tuple[float, float]], bound_s: float = LAG_BOUND_S) -> Stalls:
        """From `stalls_query` points, (epoch seconds, lag seconds)."""
        spans = sorted((t - _STALL_BEFORE_S - lag, t + _DRAIN_AFTER_S) for t, lag in points
                       if lag > bound_s and not math.isnan(lag))
        merged: list[tuple[float, float]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        lags = [lag for _, lag in points if not math.isnan(lag)]
        return cls(tuple(merged), max(lags, default=0.0), len(spans), len(lags))

    def share(self, start: float, end: float) -> float:
        """The part of [start, end] the stalls cover, 0 to 1."""
        if not end > start:
            return 1.0 if self.intervals else 0.0
        covered = sum(max(0.0, min(hi, end) - max(lo, start)) for lo, hi in self.intervals)
        return min(1.0, covered / (end - start))

    def clear(self, starts: Sequence[float] | np.ndarray, ends: Sequence[float] | np.ndarray) -> np.ndarray:
        """Per request [start, end]: True when it overlaps no stall."""
        lo, hi = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
        ok = np.ones(lo.shape, dtype=bool)
        for s_lo, s_hi in self.intervals:
            ok &= (hi < s_lo) | (lo > s_hi)
        return ok
