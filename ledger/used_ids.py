"""The used-id index: every tx_id that ever committed, with the outcome it committed with.

Why it is never pruned: a tx_id commits at most once for the life of the chain (TigerBeetle's
rule, and what an idempotency key promises): forgetting an id after a window is exactly how a
retried payment was once applied twice. Why it lives in the store, not the heap: the index
grows with history, and a validator's memory must not. The committed index is its own store
table (`Store.load_tx_index`), written in the same atomic transaction as the height that used
the ids, and read back per lookup. The app keeps in memory only the entries of heights it has
applied but the store may not have saved yet (the node syncs blocks in a worker thread while
the replica moves on) and drops them once the store reports the height durable; with no store
(tests, tools) it keeps them all.

The index is not part of the app hash: it is derived from the blocks, and what it decides (an
id's first outcome, or ALREADY_COMMITTED / DUPLICATE_TX_ID for a later use) is in each
block's results root, which every validator must reproduce to accept the block.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Protocol

import attrs

from ledger.layout import StateCorruptError, pack, unpack


@attrs.frozen
class UsedId:
    """Where and how a tx_id committed. `message` is informational (in no root)."""

    height: int
    index: int
    body_hash: bytes  # blake2b-256 of the signed bytes: "the same transaction?" compares these
    code: str
    message: str = ""

    def encode(self) -> bytes:
        return pack([self.height, self.index, self.body_hash, self.code, self.message])

    @classmethod
    def decode(cls, raw: bytes) -> UsedId:
        value = unpack(raw, "tx index record")
        if (
            type(value) is not list
            or len(value) != 5
            or type(value[0]) is not int
            or type(value[1]) is not int
            or type(value[2]) is not bytes
            or type(value[3]) is not str
            or type(value[4]) is not str
        ):
            raise StateCorruptError("tx index record: expected [int, int, bytes, str, str]")
        return cls(value[0], value[1], value[2], value[3], value[4])


class TxIndexStore(Protocol):
    """What the index needs of a store (a `consensus.interfaces.Store` has it)."""

    def last_height(self) -> int: ...

    def load_tx_index(self, tx_id: bytes) -> bytes | None: ...


class UsedIds:
    """Committed tx_ids: the store's table plus the heights not yet durable there."""

    def __init__(self, store: TxIndexStore | None = None) -> None:
        self._store = store
        self._pending: dict[bytes, bytes] = {}
        self._heights: collections.deque[tuple[int, tuple[bytes, ...]]] = collections.deque()

    def get(self, tx_id: bytes) -> UsedId | None:
        raw = self._pending.get(tx_id)
        if raw is None and self._store is not None:
            raw = self._store.load_tx_index(tx_id)
        return None if raw is None else UsedId.decode(raw)

    def applied(self, height: int, entries: Mapping[bytes, bytes]) -> None:
        """Height `height` committed these new ids (encoded `UsedId`s); the store may lag."""
        assert not any(tx_id in self._pending for tx_id in entries), "a tx_id committed twice"
        self._pending.update(entries)
        self._heights.append((height, tuple(entries)))
        if self._store is None:
            return
        durable = self._store.last_height()
        while self._heights and self._heights[0][0] <= durable:
            for tx_id in self._heights.popleft()[1]:
                del self._pending[tx_id]

    def __len__(self) -> int:
        """Entries held in memory (those the store may not have yet)."""
        return len(self._pending)
