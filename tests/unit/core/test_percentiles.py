"""Nearest-rank percentiles: one definition, and the one-sort form agrees with it."""

from __future__ import annotations

import math
import random

import pytest

from harness.stats import percentile, percentiles


def test_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile(values, 0.0) == 1
    assert percentile(list(range(1, 101)), 0.07) == 7  # 0.07 * 100 is not rank 8
    assert math.isnan(percentile([], 0.5))


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1001])
def test_one_sort_for_several_agrees_with_each_alone(n: int) -> None:
    rng = random.Random(n)
    values = [rng.expovariate(1.0) for _ in range(n)]
    qs = (0.5, 0.95, 0.99, 0.0, 1.0)
    assert percentiles(values, qs) == [percentile(values, q) for q in qs]
    assert all(math.isnan(v) for v in percentiles([], qs))
