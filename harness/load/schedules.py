"""User counts over time for the load shapes. Pure (no Locust import, so the
arithmetic is tested without gevent's monkey-patching)."""

from __future__ import annotations

import math

__all__ = ["step_users", "spike_users", "soak_users", "diurnal_users"]


def step_users(t: float, start: int, step: int, step_time: float, maximum: int) -> int:
    return min(maximum, start + step * int(t // step_time))


def spike_users(t: float, base: int, peak: int, spike_at: float, spike_length: float) -> int:
    return peak if spike_at <= t < spike_at + spike_length else base


def soak_users(t: float, users: int, ramp: float) -> int:
    return max(1, round(users * min(1.0, t / ramp))) if ramp > 0 else users


def diurnal_users(t: float, low: int, high: int, period: float) -> int:
    """A sine between low and high, starting at the trough."""
    phase = (1 - math.cos(2 * math.pi * t / period)) / 2
    return round(low + (high - low) * phase)
