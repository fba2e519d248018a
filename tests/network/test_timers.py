from __future__ import annotations

import trio
import trio.testing

from consensus.messages import Step
from consensus.replica.events import ConsensusTimer, ReplicaTimer, Timer
from network.timers import TimerQueue


def clock_ms() -> int:
    return int(trio.current_time() * 1000)


async def test_timers_fire_in_deadline_order_at_their_deadlines(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fired: list[tuple[int, Timer]] = []
    queue = TimerQueue(clock_ms, lambda t: fired.append((clock_ms(), t)))
    start = clock_ms()
    late = ConsensusTimer(1, 0, Step.PRECOMMIT)
    early = ReplicaTimer("status")
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        queue.arm(start + 300, late)
        queue.arm(start + 100, early)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert [t for _, t in fired] == [early, late]
    assert [at - start for at, _ in fired] == [100, 300]
    assert len(queue) == 0


async def test_an_earlier_timer_armed_while_sleeping_wakes_the_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fired: list[int] = []
    queue = TimerQueue(clock_ms, lambda t: fired.append(clock_ms()))
    start = clock_ms()
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        queue.arm(start + 5_000, ReplicaTimer("late"))
        await trio.sleep(0.01)
        queue.arm(start + 50, ReplicaTimer("early"))
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert [at - start for at in fired] == [50, 5_000]


async def test_past_deadlines_fire_at_once(autojump_clock: trio.testing.MockClock) -> None:
    fired: list[Timer] = []
    queue = TimerQueue(clock_ms, fired.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.run)
        queue.arm(clock_ms() - 10, ReplicaTimer("overdue"))
        await trio.sleep(0.001)
        nursery.cancel_scope.cancel()
    assert fired == [ReplicaTimer("overdue")]
