"""Virtual time: the global event heap and each validator's own (offset, drifting) clock.

The heap is ordered by (virtual time in ms, sequence number); the sequence number is a
counter, so events at the same instant run in the order they were scheduled and a run never
depends on how Python compares payloads. Time jumps to the next event; nothing waits.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

PPM = 1_000_000


class EventQueue(Generic[T]):
    """A min-heap of items keyed by (time_ms, insertion sequence)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, T]] = []
        self._seq = 0
        self.now_ms = 0

    def push(self, time_ms: int, item: T) -> None:
        assert time_ms >= self.now_ms, f"event scheduled in the past: {time_ms} < {self.now_ms}"
        heapq.heappush(self._heap, (time_ms, self._seq, item))
        self._seq += 1

    def pop(self) -> tuple[int, T]:
        """Remove the earliest event and advance the clock to it (IndexError when empty)."""
        time_ms, _, item = heapq.heappop(self._heap)
        self.now_ms = time_ms
        return time_ms, item

    def reschedule(self, move: Callable[[int, T], int]) -> None:
        """Give every queued item the time `move(time, item)` (never before now); items at
        equal times keep the order in which they were scheduled."""
        moved = []
        for time_ms, seq, item in self._heap:
            new_ms = move(time_ms, item)
            assert new_ms >= self.now_ms, f"rescheduled into the past: {new_ms} < {self.now_ms}"
            moved.append((new_ms, seq, item))
        heapq.heapify(moved)
        self._heap = moved

    def peek_time(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    @property
    def scheduled(self) -> int:
        """How many events were ever pushed (the sequence counter)."""
        return self._seq

    def __len__(self) -> int:
        return len(self._heap)


class NodeClock:
    """A validator's local clock: `local = global + offset + global * drift_ppm / 1e6`.

    Integer arithmetic only. `to_global` rounds up, so a timer set for local time t never
    fires before the local clock reads t.
    """

    def __init__(self, offset_ms: int = 0, drift_ppm: int = 0) -> None:
        if not -PPM // 2 < drift_ppm < PPM // 2:
            raise ValueError("clock drift must stay within +-50%")
        self.offset_ms = offset_ms
        self.drift_ppm = drift_ppm

    def local(self, global_ms: int) -> int:
        return global_ms + self.offset_ms + (global_ms * self.drift_ppm) // PPM

    def to_global(self, local_ms: int) -> int:
        """The first global time at which the local clock reads at least `local_ms`."""
        if not self.drift_ppm:  # local = global + offset exactly
            return max(0, local_ms - self.offset_ms)
        rate = PPM + self.drift_ppm
        guess = max(0, -((-(local_ms - self.offset_ms) * PPM) // rate))
        while guess > 0 and self.local(guess - 1) >= local_ms:
            guess -= 1
        while self.local(guess) < local_ms:
            guess += 1
        return guess
