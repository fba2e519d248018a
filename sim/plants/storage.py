"""Planted storage bugs: mistakes in the store or the effect executor that only a crash with
writes not yet durable exposes (class "storage" of `sim.planted`).

Each function returns a context manager that replaces one production function for a run:
`LmdbStore.save_sign_state`, `LmdbStore.save_height` (the simulator runs the production store
on a simulated disk, `sim.disk_store`) or `consensus.replica.effect_order.execute_in_order`
(the plan both the node's and the simulator's executor run). With everything synced at once,
as the simulator's disk was before, none of them is visible.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from consensus.interfaces import HeightRecord
from consensus.replica import effect_order
from consensus.replica import events as ev
from ledger.store_keys import META_LAST_HEIGHT
from ledger.store_lmdb import LmdbStore
from sim.plants import replaced


def sign_state_unsynced() -> contextlib.AbstractContextManager[None]:
    """The sign state is committed without a sync, as an environment opened with `sync=False`
    (for speed, syncing only heights) would: it sits in the page cache until the next height's
    sync flushes the file, and the vote it guards leaves at once. A power cut in between loses
    it; the restarted validator may sign the same step again, differently."""
    original = LmdbStore.save_sign_state

    def save_sign_state(self: LmdbStore, data: bytes) -> None:
        env: Any = self._env
        synced = env.sync_on_commit  # the simulated environment's `lmdb.open(sync=...)`
        env.sync_on_commit = False
        try:
            original(self, data)
        finally:
            env.sync_on_commit = synced

    return replaced(LmdbStore, "save_sign_state", save_sign_state)


class _PointerApart:
    """An environment whose write transactions leave the height pointer to a second one."""

    def __init__(self, env: Any) -> None:
        self._env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    @contextlib.contextmanager
    def begin(self, write: bool = False, **options: Any) -> Iterator[Any]:
        if not write:
            with self._env.begin(**options) as txn:
                yield txn
            return
        pointer: list[tuple[Any, ...]] = []
        with self._env.begin(write=True, **options) as txn:
            yield _DeferPointer(txn, pointer)
        if pointer:
            with self._env.begin(write=True) as txn:
                for key, value, db in pointer:
                    txn.put(key, value, db=db)


class _DeferPointer:
    def __init__(self, txn: Any, pointer: list[tuple[Any, ...]]) -> None:
        self._txn = txn
        self._pointer = pointer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._txn, name)

    def put(self, key: bytes, value: bytes, db: Any = None, **options: Any) -> bool:
        if key == META_LAST_HEIGHT:
            self._pointer.append((key, value, db))
            return True
        result: bool = self._txn.put(key, value, db=db, **options)
        return result


def height_pointer_apart() -> contextlib.AbstractContextManager[None]:
    """`save_height` commits the height's data (block, commit, app hash, state, index) in one
    transaction and the new height pointer in a second one: a crash between the two leaves a
    store whose pointer disagrees with its blocks."""
    original = LmdbStore.save_height

    def save_height(self: LmdbStore, record: HeightRecord) -> None:
        env = self._env
        self._env = _PointerApart(env)
        try:
            original(self, record)
        finally:
            self._env = env

    return replaced(LmdbStore, "save_height", save_height)


Plan = Iterator[effect_order.DurableWrite]
_PLAN = effect_order.execute_in_order  # the production plan, kept before any patch


def _send_before_durable(
    batch: Sequence[ev.ReplicaEffect], do: Callable[[ev.ReplicaEffect], None]
) -> Plan:
    """A plan that starts each segment's sign-state write and sends on without waiting for it
    (the write is awaited only at the segment's end, as a background task would be)."""
    start = 0
    while start < len(batch):
        end = effect_order.next_commit(batch, start)
        segment = batch[start:end]
        states = [e for e in segment if isinstance(e, ev.PersistSignState)]
        for effect in segment:
            if not isinstance(effect, ev.PersistSignState):
                do(effect)
        if states:
            yield states[-1]
        if end < len(batch):
            commit = batch[end]
            assert isinstance(commit, ev.CommitBlock)
            yield commit
        start = end + 1


def send_before_durable() -> contextlib.AbstractContextManager[None]:
    """The executor sends a vote while the sign state guarding it is still being written."""
    return replaced(effect_order, "execute_in_order", _send_before_durable)


def _commit_last(batch: Sequence[ev.ReplicaEffect], do: Callable[[ev.ReplicaEffect], None]) -> Plan:
    """The batch's other effects first (the next height does not wait for the block), its
    block writes last."""
    yield from _PLAN([e for e in batch if not isinstance(e, ev.CommitBlock)], do)
    yield from (e for e in batch if isinstance(e, ev.CommitBlock))


def block_write_last() -> contextlib.AbstractContextManager[None]:
    """The executor saves a block after the effects that follow it (as a background task
    would): the next height's sign state can be durable while the block is not, a store the
    replica refuses to resume from."""
    return replaced(effect_order, "execute_in_order", _commit_last)
