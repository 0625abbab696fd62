"""Stickiness arithmetic: the share of a user's requests on its modal pod, per
(user, version), with retried requests (moved by the retry host predicate)
left out."""

from __future__ import annotations

import pandas as pd

from harness.certify.requirements.affinity_stickiness import first_tries, modal_pods


def records(rows: list[tuple[str, str, str, object]]) -> pd.DataFrame:
    return pd.DataFrame([{"user_id": u, "served_version": v, "served_pod": p, "attempts": a, "ok": True}
                         for u, v, p, a in rows])


def test_retried_requests_are_not_first_tries_and_unknown_counts_are() -> None:
    frame = records([("u", "v1", "a", 1), ("u", "v1", "b", 2), ("u", "v1", "a", None), ("u", "v1", "c", 3)])
    assert first_tries(frame).tolist() == [True, False, True, False]
    assert first_tries(frame.drop(columns="attempts")).all()


def test_modal_pod_share_per_user_and_version() -> None:
    frame = records([("u1", "v1", "a", 1), ("u1", "v1", "a", 1), ("u1", "v1", "b", 1),
                     ("u1", "v2", "c", 1), ("u2", "v1", "b", 1)])
    table = modal_pods(frame, frame["served_pod"])
    assert table.loc[("u1", "v1"), "requests"] == 3 and table.loc[("u1", "v1"), "on_modal_pod"] == 2
    assert table.loc[("u1", "v1"), "modal_pod"] == "a"
    assert table["on_modal_pod"].sum() / table["requests"].sum() == 4 / 5


def test_a_retry_to_another_pod_does_not_count_against_the_user() -> None:
    frame = records([("u1", "v1", "a", 1), ("u1", "v1", "b", 2), ("u1", "v1", "a", 1)])
    kept = frame[first_tries(frame)]
    table = modal_pods(kept, kept["served_pod"])
    assert table["on_modal_pod"].sum() == table["requests"].sum() == 2
