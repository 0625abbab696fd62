"""Exact tests for shares and spreads, with no dependency beyond `math`.

A split is judged by a tolerance band: the observed share of a destination
must lie within `expected +- tolerance`. The sample size is chosen so that a
mesh keeping the promise lands outside the band with probability at most
`false_fail` (exact binomial tails), which makes the verdict of a good mesh a
certainty for practical purposes rather than a coin flip. `band_probability`
gives the other side: how likely a mesh splitting some other share is to pass.
"""

from __future__ import annotations

import math

__all__ = ["binomial_pmf", "binomial_tail_outside", "band_probability", "sample_size_for_share", "chi_square_sf",
           "chi_square_uniform"]


def binomial_pmf(k: int, n: int, p: float) -> float:
    if k < 0 or k > n:
        return 0.0
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == n else 0.0
    log = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
           + k * math.log(p) + (n - k) * math.log1p(-p))
    return math.exp(log)


def band_probability(n: int, p_true: float, center: float, tolerance: float) -> float:
    """P(|X/n - center| <= tolerance) for X ~ Binomial(n, p_true): the chance
    that a mesh splitting `p_true` is judged inside the band."""
    if n <= 0:
        return 0.0
    lo = math.ceil(round((center - tolerance) * n, 9))
    hi = math.floor(round((center + tolerance) * n, 9))
    return min(1.0, sum(binomial_pmf(k, n, p_true) for k in range(max(0, lo), min(n, hi) + 1)))


def binomial_tail_outside(n: int, p: float, tolerance: float) -> float:
    """P(|X/n - p| > tolerance) for X ~ Binomial(n, p): the chance that a mesh
    splitting exactly `p` is judged outside the band (a false failure)."""
    return max(0.0, 1.0 - band_probability(n, p, p, tolerance))


def sample_size_for_share(p: float, tolerance: float, false_fail: float, max_n: int = 1_000_000) -> int:
    """The smallest n from which on a share of exactly `p` falls outside
    `p +- tolerance` with probability <= `false_fail` (checked exactly, for the
    returned n and the next few, since binomial tails are not monotone in n)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"share {p} is not in [0, 1]")
    if not 0.0 < tolerance < 1.0:
        raise ValueError(f"tolerance {tolerance} must be in (0, 1)")
    if not 0.0 < false_fail < 1.0:
        raise ValueError(f"false-failure probability {false_fail} must be in (0, 1)")
    if p in (0.0, 1.0):
        return 1
    # normal approximation as the starting point, then exact checks upwards
    z = _normal_quantile(1.0 - false_fail / 2.0)
    n = max(1, int(z * z * p * (1.0 - p) / (tolerance * tolerance) * 0.7))
    while n <= max_n:
        if all(binomial_tail_outside(m, p, tolerance) <= false_fail for m in range(n, n + 5)):
            return n
        n += max(1, n // 50)
    raise ValueError(f"no sample size up to {max_n} reaches a false-failure probability of {false_fail}")


def _normal_quantile(q: float) -> float:
    """Inverse standard normal CDF by bisection on erf (enough for sizing)."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def _upper_gamma_regularized(a: float, x: float) -> float:
    """Q(a, x) = Gamma(a, x) / Gamma(a) (series below a+1, continued fraction above)."""
    if x <= 0.0:
        return 1.0
    gln = math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - gln))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - gln) * h


def chi_square_sf(statistic: float, dof: int) -> float:
    """P(Chi2(dof) >= statistic)."""
    if dof <= 0:
        raise ValueError("degrees of freedom must be positive")
    return _upper_gamma_regularized(dof / 2.0, statistic / 2.0)


def chi_square_uniform(counts: list[int]) -> tuple[float, float]:
    """(statistic, p-value) of Pearson's test that `counts` come from equal shares."""
    n = sum(counts)
    k = len(counts)
    if k < 2 or n == 0:
        raise ValueError("a spread test needs at least two categories and one observation")
    expected = n / k
    statistic = sum((c - expected) ** 2 / expected for c in counts)
    return statistic, chi_square_sf(statistic, k - 1)
