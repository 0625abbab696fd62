"""Pure analysis over DataFrames of RequestRecords, fault journals and
Prometheus samples: windowed availability and percentiles, statistical tests
with a stated confidence, sample sizes, failover and recovery times,
attribution over time. No I/O here: callers load the frames."""

from harness.analysis.frames import availability, percentile_ms, timed, windowed
from harness.analysis.stats import (
    binomial_pmf,
    binomial_tail_outside,
    chi_square_sf,
    chi_square_uniform,
    sample_size_for_share,
)
from harness.analysis.timing import first_sustained, time_to_shift

__all__ = [
    "availability",
    "binomial_pmf",
    "binomial_tail_outside",
    "chi_square_sf",
    "chi_square_uniform",
    "first_sustained",
    "percentile_ms",
    "sample_size_for_share",
    "time_to_shift",
    "timed",
    "windowed",
]
