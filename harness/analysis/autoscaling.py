"""An HPA's behaviour over a run, from samples of its status: when its
metric first rose above the target, when it first asked for more replicas,
when the queue last stood above the target, and when it was back at its
minimum. Pure functions over a DataFrame with one row per sample:

- `t`: epoch seconds;
- `desired`, `current`: the HPA status' desiredReplicas and currentReplicas;
- `average`: the current average value of its metric (NaN when unknown);
- `ready`: ready pods of the scaled pool (as the target lists them).
"""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["SAMPLE_COLUMNS", "above_target", "first_time", "last_time"]

SAMPLE_COLUMNS = ("t", "desired", "current", "average", "ready")


def above_target(samples: pd.DataFrame, target: float, tolerance: float = 0.1) -> pd.Series:
    """Per sample: the metric stood above the target by more than the HPA's
    tolerance (the controller acts only then)."""
    return samples["average"].astype(float) > target * (1.0 + tolerance)


def first_time(samples: pd.DataFrame, mask: pd.Series, after: float = -math.inf) -> float | None:
    """The first sample time at or after `after` where `mask` holds; None if never."""
    hits = samples["t"][mask & (samples["t"] >= after)]
    return float(hits.min()) if len(hits) else None


def last_time(samples: pd.DataFrame, mask: pd.Series) -> float | None:
    """The last sample time where `mask` holds; None if never."""
    hits = samples["t"][mask]
    return float(hits.max()) if len(hits) else None
