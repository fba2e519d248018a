"""The replica's timers as one trio task.

The replica emits `SetTimer(deadline_ms, timer)` and never cancels; stale timers are no-ops on
its side. So the driver only needs a min-heap of deadlines and one task that sleeps until the
earliest one and hands it back through a callback. Deadlines are in the replica's clock
(`now_ms()` supplied by the node); sleeping uses trio's clock, so tests can autojump it.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import trio

from consensus.replica.events import Timer

MAX_PENDING_TIMERS = 100_000
"""A bound on armed timers; the replica sets a handful per round, so this is only a backstop."""


class TimerQueue:
    """Timers armed by `arm`, fired in deadline order by `run`."""

    def __init__(self, now_ms: Callable[[], int], fire: Callable[[Timer], None]) -> None:
        self._now_ms = now_ms
        self._fire = fire
        self._heap: list[tuple[int, int, Timer]] = []
        self._seq = itertools.count()
        self._changed = trio.Event()

    def __len__(self) -> int:
        return len(self._heap)

    def arm(self, deadline_ms: int, timer: Timer) -> None:
        if len(self._heap) >= MAX_PENDING_TIMERS:
            raise RuntimeError(f"more than {MAX_PENDING_TIMERS} timers armed: a replica bug")
        heapq.heappush(self._heap, (deadline_ms, next(self._seq), timer))
        self._changed.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self._changed = trio.Event()
            if not self._heap:
                await self._changed.wait()
                continue
            delay_ms = self._heap[0][0] - self._now_ms()
            if delay_ms > 0:
                with trio.move_on_after(delay_ms / 1000):
                    await self._changed.wait()
                continue
            _, _, timer = heapq.heappop(self._heap)
            self._fire(timer)
            await trio.sleep(0)  # let other tasks run between a burst of due timers
