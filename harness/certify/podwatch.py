"""Did the pods behind a service change while a requirement's window ran?

A ring hash, a round robin or a locality split is only judged fairly while
the endpoints stay put. Comparing the ready pods at the start and at the end
of a window misses a pod that went away and came back inside it (a crash
restarted by its kubelet keeps its name on the local stack; a readiness blip
keeps it on both targets), and during that gap the mesh moved its users by
design. So the window is watched: the pods are listed every `interval_s` in
a background thread, and restart counts are compared at the end to catch a
gap shorter than the interval.

`pod_changes` (pure) says what changed between snapshots; `watch_pods`
(I/O) takes them."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise

from harness.targets.base import PodInfo, Target

__all__ = ["PodSnapshot", "PodWatch", "pod_changes", "watch_pods"]


@dataclass(frozen=True)
class PodSnapshot:
    """The pods a selector matched at one moment: ready ones, and every pod's restart count."""

    ready: frozenset[str]
    restarts: dict[str, int] = field(hash=False)

    @classmethod
    def of(cls, pods: Sequence[PodInfo]) -> PodSnapshot:
        return cls(frozenset(p.name for p in pods if p.ready), {p.name: p.restarts for p in pods})


def pod_changes(snapshots: Sequence[PodSnapshot]) -> list[str]:
    """What changed across `snapshots` (in time order), one phrase per pod
    and kind of change; empty when every snapshot shows the same ready pods
    and no restart count grew."""
    if len(snapshots) < 2:
        return []
    first = snapshots[0]
    left: set[str] = set()  # ready at some point, then not
    joined: set[str] = set()  # not ready at some point, then ready
    for prev, cur in pairwise(snapshots):
        left |= prev.ready - cur.ready
        joined |= cur.ready - prev.ready
    last = snapshots[-1]
    restarted = {name for name, n in last.restarts.items() if n > first.restarts.get(name, n)}
    changes = [f"{name} left the ready pods" + (" and came back" if name in last.ready else "")
               for name in sorted(left)]
    changes += [f"{name} turned ready" for name in sorted(joined - left)]
    changes += [f"{name} restarted" for name in sorted(restarted - left)]
    return changes


@dataclass
class PodWatch:
    """The snapshots of one watched window. A listing that failed mid-window
    (the target's API unreachable) is a gap in the watch: `doubt` names it,
    as a judge must not pass on what it could not see."""

    snapshots: list[PodSnapshot] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[str]:
        return pod_changes(self.snapshots)

    @property
    def steady(self) -> set[str]:
        """The pods ready in every snapshot that did not restart: the ones that
        were there to take traffic for the whole window."""
        if not self.snapshots:
            return set()
        first, last = self.snapshots[0], self.snapshots[-1]
        ready = set(first.ready).intersection(*(s.ready for s in self.snapshots[1:]))
        return {p for p in ready if last.restarts.get(p, 0) <= first.restarts.get(p, 0)}

    def doubt(self, what: str) -> str | None:
        """Why a verdict on `what` (e.g. "the pods behind llm-chat") cannot
        be trusted after this window, or None when nothing changed."""
        if self.changes:
            return f"{what} changed during the window: {'; '.join(self.changes)}"
        if self.errors:
            return f"{what} could not be listed during the window ({self.errors[0]})"
        if len(self.snapshots) < 2:
            return f"{what} were not watched through the window"
        return None


@contextmanager
def watch_pods(target: Target, selector: str, interval_s: float = 0.25) -> Iterator[PodWatch]:
    """List the pods matching `selector` now, every `interval_s` while the
    block runs, and once more at its end."""
    watch = PodWatch()
    stop = threading.Event()

    def take() -> None:
        try:
            watch.snapshots.append(PodSnapshot.of(target.list_pods(selector)))
        except Exception as exc:  # noqa: BLE001 - any failure to list is a gap in the watch
            watch.errors.append(f"{type(exc).__name__}: {exc}")

    def poll() -> None:
        while not stop.wait(interval_s):
            take()

    take()
    thread = threading.Thread(target=poll, name="pod-watch", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join()
        take()
