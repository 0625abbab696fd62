import math
import random

import pytest

from harness.analysis.stats import (
    band_probability,
    binomial_pmf,
    binomial_tail_outside,
    chi_square_sf,
    chi_square_uniform,
    sample_size_for_share,
)


def test_binomial_pmf_sums_to_one_and_matches_a_known_value() -> None:
    assert sum(binomial_pmf(k, 30, 0.2) for k in range(31)) == pytest.approx(1.0, abs=1e-12)
    assert binomial_pmf(3, 10, 0.5) == pytest.approx(120 / 1024)
    assert binomial_pmf(0, 5, 0.0) == 1.0 and binomial_pmf(5, 5, 1.0) == 1.0


def test_tail_outside_the_band_is_exact() -> None:
    # n=10, p=0.5, band 0.5 +- 0.1 keeps k in 4..6
    inside = sum(binomial_pmf(k, 10, 0.5) for k in (4, 5, 6))
    assert binomial_tail_outside(10, 0.5, 0.1) == pytest.approx(1 - inside)


def test_sample_size_gives_the_stated_false_failure_probability() -> None:
    n = sample_size_for_share(0.2, 0.07, 1e-6)
    assert binomial_tail_outside(n, 0.2, 0.07) <= 1e-6
    # and it is not wastefully large: a tenth fewer requests no longer reach it
    assert binomial_tail_outside(int(n * 0.9), 0.2, 0.07) > 1e-6
    # a broken split passes with negligible probability: 50/50, or no canary at all
    assert band_probability(n, 0.5, 0.2, 0.07) < 1e-30
    assert band_probability(n, 0.0, 0.2, 0.07) == 0.0
    # one off by twice the tolerance still fails most of the time
    assert band_probability(n, 0.2 + 2 * 0.07, 0.2, 0.07) < 0.5


def test_sample_size_shrinks_with_tolerance_and_grows_with_confidence() -> None:
    assert sample_size_for_share(0.2, 0.1, 1e-6) < sample_size_for_share(0.2, 0.05, 1e-6)
    assert sample_size_for_share(0.2, 0.07, 1e-3) < sample_size_for_share(0.2, 0.07, 1e-9)


def test_sample_size_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        sample_size_for_share(0.2, 0.0, 1e-6)
    with pytest.raises(ValueError, match="share"):
        sample_size_for_share(1.2, 0.1, 1e-6)


def test_simulated_good_split_never_fails_and_bad_split_always_fails() -> None:
    rng = random.Random(7)
    n = sample_size_for_share(0.2, 0.07, 1e-6)
    for _ in range(200):
        good = sum(rng.random() < 0.2 for _ in range(n)) / n
        bad = sum(rng.random() < 0.5 for _ in range(n)) / n
        assert abs(good - 0.2) <= 0.07
        assert abs(bad - 0.2) > 0.07


@pytest.mark.parametrize("x,dof,expected", [
    (3.841458820694124, 1, 0.05),  # the textbook 95 % critical values
    (5.991464547107979, 2, 0.05),
    (16.918977604620448, 9, 0.05),
    (0.0, 3, 1.0),
    (30.0, 4, 4.894437e-06),
])
def test_chi_square_survival_matches_tables(x: float, dof: int, expected: float) -> None:
    assert chi_square_sf(x, dof) == pytest.approx(expected, rel=1e-5)


def test_chi_square_uniform_spots_a_skewed_spread() -> None:
    _, even = chi_square_uniform([50, 48, 52, 50])
    _, skewed = chi_square_uniform([100, 0, 50, 50])
    assert even > 0.9 and skewed < 1e-10
    with pytest.raises(ValueError):
        chi_square_uniform([10])
    assert math.isfinite(chi_square_uniform([1, 0])[1])
