"""A serving process freezes its start-up heap: full collections then walk
only what was allocated since."""

from __future__ import annotations

import gc

from harness.heap import settle_heap


def test_start_up_objects_leave_the_collectors_generations_and_new_ones_do_not() -> None:
    startup = [[i] for i in range(1000)]
    try:
        frozen = settle_heap()
        assert frozen == gc.get_freeze_count() >= len(startup)
        tracked = {id(o) for o in gc.get_objects()}
        assert not any(id(d) in tracked for d in startup), "start-up objects are still walked by the collector"
        later: list[list[int]] = [[]]  # a container of containers: always tracked
        assert id(later) in {id(o) for o in gc.get_objects()}, "new objects must still be collected"
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
