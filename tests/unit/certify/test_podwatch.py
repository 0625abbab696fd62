"""What changed in the pods behind a service across a window's snapshots:
a pod gone, one gone and back (invisible to a start/end comparison), one
turned ready, one restarted between two polls, and a watch with gaps."""

from __future__ import annotations

from harness.certify.podwatch import PodSnapshot, PodWatch, pod_changes


def snap(ready: str, restarts: dict[str, int] | None = None) -> PodSnapshot:
    names = frozenset(ready.split()) if ready else frozenset()
    return PodSnapshot(names, restarts if restarts is not None else {n: 0 for n in names})


def test_steady_pods_are_no_change() -> None:
    assert pod_changes([snap("a b"), snap("a b"), snap("a b")]) == []
    assert pod_changes([snap("a b")]) == []


def test_a_pod_gone_and_back_is_a_change_the_ends_alone_do_not_show() -> None:
    snaps = [snap("a b"), snap("a"), snap("a b")]
    assert snaps[0].ready == snaps[-1].ready
    assert pod_changes(snaps) == ["b left the ready pods and came back"]


def test_gone_and_new_pods_are_named() -> None:
    assert pod_changes([snap("a b"), snap("a"), snap("a c")]) == ["b left the ready pods", "c turned ready"]


def test_a_restart_between_two_polls_is_seen_by_its_count() -> None:
    before = snap("a b", {"a": 0, "b": 2})
    after = snap("a b", {"a": 0, "b": 3})
    assert pod_changes([before, after]) == ["b restarted"]
    # a pod that appears with restarts already counted has not restarted in the window
    assert pod_changes([snap("a", {"a": 0}), snap("a", {"a": 0, "c": 4})]) == []


def test_the_watch_doubts_changes_gaps_and_too_few_looks() -> None:
    steady = PodWatch([snap("a"), snap("a")])
    assert steady.doubt("the pods") is None
    moved = PodWatch([snap("a b"), snap("a")])
    assert moved.doubt("the pods") == "the pods changed during the window: b left the ready pods"
    gap = PodWatch([snap("a"), snap("a")], errors=["ConnectError: refused"])
    assert "could not be listed" in (gap.doubt("the pods") or "")
    assert "not watched" in (PodWatch([snap("a")]).doubt("the pods") or "")


def test_steady_pods_were_ready_throughout_and_did_not_restart() -> None:
    watch = PodWatch([snap("a b c", {"a": 0, "b": 0, "c": 1}), snap("a c", {"a": 0, "c": 1}),
                      snap("a b c d", {"a": 0, "b": 0, "c": 2, "d": 0})])
    assert watch.steady == {"a"}
    assert PodWatch().steady == set()
