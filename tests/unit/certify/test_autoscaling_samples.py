"""When an HPA's metric stood above target, scaled, and came back: from samples."""

from __future__ import annotations

import pandas as pd

from harness.analysis.autoscaling import above_target, first_time, last_time


def samples() -> pd.DataFrame:
    return pd.DataFrame({"t": [0.0, 1.0, 2.0, 3.0, 4.0], "desired": [2, 2, 4, 4, 2], "current": [2, 2, 2, 4, 4],
                         "average": [0.0, 5.4, 9.0, float("nan"), 0.0], "ready": [4, 4, 4, 6, 6]})


def test_above_target_needs_more_than_the_tolerance() -> None:
    assert above_target(samples(), 5.0).tolist() == [False, False, True, False, False]  # 5.4 is within 10 %


def test_first_and_last() -> None:
    s = samples()
    over = above_target(s, 5.0)
    assert first_time(s, over) == 2.0 and last_time(s, over) == 2.0
    assert first_time(s, s["desired"] <= 2, after=2.0) == 4.0
    assert first_time(s, s["desired"] > 4) is None and last_time(s, s["desired"] > 4) is None
