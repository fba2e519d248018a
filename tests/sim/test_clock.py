from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.clock import EventQueue, NodeClock


def test_events_pop_by_time_then_insertion_order() -> None:
    queue: EventQueue[str] = EventQueue()
    queue.push(5, "late")
    queue.push(1, "first")
    queue.push(1, "second")
    queue.push(3, "middle")
    popped = [queue.pop() for _ in range(len(queue))]
    assert popped == [(1, "first"), (1, "second"), (3, "middle"), (5, "late")]
    assert queue.now_ms == 5


def test_pushing_into_the_past_is_our_bug() -> None:
    queue: EventQueue[str] = EventQueue()
    queue.push(10, "a")
    queue.pop()
    with pytest.raises(AssertionError):
        queue.push(9, "b")


@given(
    offset=st.integers(0, 10_000),
    drift=st.integers(-200_000, 200_000),
    local=st.integers(0, 10**9),
)
def test_a_timer_never_fires_before_the_local_clock_reads_its_deadline(
    offset: int, drift: int, local: int
) -> None:
    clock = NodeClock(offset, drift)
    at = clock.to_global(local)
    assert clock.local(at) >= local
    assert at == 0 or clock.local(at - 1) < local


@given(drift=st.integers(-200_000, 200_000), a=st.integers(0, 10**9), b=st.integers(0, 10**9))
def test_local_clocks_are_monotonic(drift: int, a: int, b: int) -> None:
    clock = NodeClock(7, drift)
    lo, hi = sorted((a, b))
    assert clock.local(lo) <= clock.local(hi)
