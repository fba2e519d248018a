"""Executes the replica's effects in order, with the disk syncs off the event loop.

Why: a synced LMDB write takes about a millisecond, and a validator signs two or three times a
height. Done inline, every sync stalls the whole node: no frame is read, no request served.
Here the replica keeps handling events while one task executes their effects in the order they
were produced, awaiting each durable write in a worker thread.

The order itself (each durable write completes before anything after it runs; sign states
waiting between two block commits are written once, the newest) is the plan of
`consensus.replica.effect_order`, which the simulator's driver runs too: this module only
awaits the writes the plan yields. So "a signature leaves only after the sign state guarding it
is durable" holds here exactly as the simulator checks it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

import trio

from consensus.interfaces import Store
from consensus.replica import effect_order
from consensus.replica import events as ev

MAX_QUEUED_EFFECTS = 100_000
"""Effects waiting to execute; beyond this, producers wait (`wait_for_room`)."""


class EffectExecutor:
    """One task that executes queued effects strictly in order."""

    def __init__(
        self,
        store: Store,
        *,
        send: Callable[[bytes, bytes], None],
        broadcast: Callable[[bytes], None],
        arm_timer: Callable[[int, ev.Timer], None],
        committed: Callable[[ev.CommitBlock, float], None],
        other: Callable[[ev.ReplicaEffect], None],
    ) -> None:
        self._store = store
        self._send = send
        self._broadcast = broadcast
        self._arm_timer = arm_timer
        self._committed = committed
        self._other = other
        self._queue: collections.deque[ev.ReplicaEffect] = collections.deque()
        self._work = trio.Event()
        self._room = trio.Event()
        self._idle = trio.Event()
        self._idle.set()
        self.sign_state_writes = 0
        self.sign_states_coalesced = 0

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, effects: Sequence[ev.ReplicaEffect]) -> None:
        """Queue `effects` behind everything queued before (never blocks)."""
        if effects:
            self._queue.extend(effects)
            self._idle = trio.Event()
            self._work.set()

    async def wait_for_room(self) -> None:
        """Wait while the queue is over its bound (backpressure for the inbound pump)."""
        while len(self._queue) > MAX_QUEUED_EFFECTS:
            self._room = trio.Event()
            await self._room.wait()

    async def wait_idle(self) -> None:
        """Wait until every effect submitted so far has been executed."""
        await self._idle.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            if not self._queue:
                self._idle.set()
                self._work = trio.Event()
                await self._work.wait()
            batch = list(self._queue)
            self._queue.clear()
            self._room.set()
            await self._execute(batch)

    async def _execute(self, batch: list[ev.ReplicaEffect]) -> None:
        written = 0
        for write in effect_order.execute_in_order(batch, self._do):
            if isinstance(write, ev.PersistSignState):
                await trio.to_thread.run_sync(self._store.save_sign_state, write.data)
                written += 1
                self.sign_state_writes += 1
            else:
                await self._save_height(write)
        self.sign_states_coalesced += effect_order.sign_states(batch) - written

    def _do(self, effect: ev.ReplicaEffect) -> None:
        if isinstance(effect, ev.SendTo):
            self._send(effect.peer, effect.payload)
        elif isinstance(effect, ev.BroadcastPayload):
            self._broadcast(effect.payload)
        elif isinstance(effect, ev.SetTimer):
            self._arm_timer(effect.deadline_ms, effect.timer)
        else:
            self._other(effect)

    async def _save_height(self, effect: ev.CommitBlock) -> None:
        started = trio.current_time()
        await trio.to_thread.run_sync(self._store.save_height, effect.record)
        self._committed(effect, trio.current_time() - started)
