"""A simulated validator's effect executor: the node's plan, with writes that take virtual time.

The node (`network/executor.py`) queues each event's effects behind the earlier ones and runs
them, in one task, through `consensus.replica.effect_order.execute_in_order`, awaiting each
durable write in a worker thread while the replica goes on handling events. This is that
executor on the virtual clock: effects queue in the order produced; the plan runs them until it
yields a write; the driver issues the write to the store at once (its transactions land on the
simulated disk, not yet durable) and resumes the plan only when the write's sync returns, an
item on the run's queue some milliseconds later. Meanwhile the replica may commit a block,
start the next height and produce more effects: they wait here, as they do in the node. So a
crash can land while a write is in flight, with the replica ahead of its disk, which is the
state a power cut finds a real validator in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from consensus.replica import effect_order
from consensus.replica import events as ev
from consensus.replica.effect_order import DurableWrite


class SimExecutor:
    """Queued effects, the plan running them, and the write in flight (see module doc)."""

    def __init__(self) -> None:
        self.queue: list[ev.ReplicaEffect] = []
        self._plan: Iterator[DurableWrite] | None = None
        self.in_flight: DurableWrite | None = None
        self.ticket = 0  # names the write in flight; a sync item for another ticket is stale
        self.writes = 0  # durable writes issued since boot

    def submit(self, effects: list[ev.ReplicaEffect]) -> None:
        self.queue.extend(effects)

    def next_write(self, do: Callable[[ev.ReplicaEffect], None]) -> DurableWrite | None:
        """Run effects (through `do`) until the plan yields a write, which is now in flight
        and returned; None when every queued effect has run. Not while a write is in flight."""
        assert self.in_flight is None, "the plan resumes only once its write is durable"
        while True:
            if self._plan is None:
                if not self.queue:
                    return None
                batch, self.queue = self.queue, []
                self._plan = effect_order.execute_in_order(batch, do)
            plan = self._plan
            write = next(plan, None)
            if self._plan is not plan:
                return None  # abandoned while running (the node crashed inside `do`)
            if write is not None:
                self.in_flight = write
                self.ticket += 1
                self.writes += 1
                return write
            self._plan = None

    def completed(self) -> DurableWrite:
        """The write in flight is durable; the plan may resume."""
        write = self.in_flight
        assert write is not None
        self.in_flight = None
        return write

    def abandon(self) -> DurableWrite | None:
        """The process died: forget the queue and the plan; returns the write in flight."""
        write, self.in_flight = self.in_flight, None
        self.queue = []
        self._plan = None
        self.ticket += 1
        return write

    @property
    def idle(self) -> bool:
        return self.in_flight is None and self._plan is None and not self.queue


def write_name(write: DurableWrite) -> str:
    if isinstance(write, ev.CommitBlock):
        return f"height {write.record.height}"
    return "sign state"
