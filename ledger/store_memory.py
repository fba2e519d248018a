"""An in-memory `Store` with exactly the semantics of `LmdbStore`, for tests and the simulator.

Everything written here counts as durable (every LMDB write is synced), so a simulated crash is
`snapshot()` of the old store followed by `MemoryStore.restore_from(snapshot)`. The store copies
all bytes it is given, checks height continuity and raises the same errors, with the same
words, as the LMDB store; `tests/ledger/test_store_differential.py` holds it to that.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType

import attrs

from consensus.interfaces import HeightRecord, StoreError
from ledger.store_keys import (
    MAX_KEY_SIZE,
    StoreClosedError,
    already_indexed,
    check_bytes,
    check_next_height,
    check_record,
    readable_height,
)


@attrs.frozen
class MemorySnapshot:
    """The durable contents of a `MemoryStore` at one instant (immutable)."""

    sign_state: bytes | None
    heights: tuple[tuple[bytes, bytes, bytes, bytes], ...]  # (block, commit, app_hash, results)
    state: MappingProxyType[bytes, bytes]
    tx_index: MappingProxyType[bytes, bytes]


class MemoryStore:
    """A `Store` kept in dictionaries. Not thread-safe, like everything in one replica."""

    def __init__(self) -> None:
        self._sign_state: bytes | None = None
        self._heights: list[tuple[bytes, bytes, bytes, bytes]] = []
        self._state: dict[bytes, bytes] = {}
        self._tx_index: dict[bytes, bytes] = {}
        self._closed = False
        self._failures_pending = 0

    # -- test hooks --------------------------------------------------------------------------

    def snapshot(self) -> MemorySnapshot:
        """What a crash at this instant would leave on disk (works after `close()` too)."""
        return MemorySnapshot(
            sign_state=self._sign_state,
            heights=tuple(self._heights),
            state=MappingProxyType(dict(self._state)),
            tx_index=MappingProxyType(dict(self._tx_index)),
        )

    @classmethod
    def restore_from(cls, snapshot: MemorySnapshot) -> MemoryStore:
        """A fresh open store holding `snapshot`, as reopening the files after a crash would."""
        store = cls()
        store._sign_state = snapshot.sign_state
        store._heights = list(snapshot.heights)
        store._state = dict(snapshot.state)
        store._tx_index = dict(snapshot.tx_index)
        return store

    def inject_failures(self, count: int = 1) -> None:
        """Make the next `count` writes raise StoreError and change nothing (a full disk)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        self._failures_pending = count

    # -- Store -------------------------------------------------------------------------------

    def load_sign_state(self) -> bytes | None:
        self._check_open()
        return self._sign_state

    def save_sign_state(self, data: bytes) -> None:
        self._check_open()
        raw = check_bytes(data, "sign state")
        self._maybe_fail("sign state")
        self._sign_state = raw

    def save_height(self, record: HeightRecord) -> None:
        self._check_open()
        checked = check_record(record)
        check_next_height(len(self._heights), checked.height)
        self._maybe_fail(f"height {checked.height}")
        for tx_id, _ in checked.tx_index:
            if tx_id in self._tx_index:
                raise already_indexed(tx_id, checked.height)
        for key, value in checked.writes:
            if value is None:
                self._state.pop(key, None)
            else:
                self._state[key] = value
        self._tx_index.update(checked.tx_index)
        self._heights.append((checked.block, checked.commit, checked.app_hash, checked.results))

    def last_height(self) -> int:
        self._check_open()
        return len(self._heights)

    def load_block(self, height: int) -> bytes | None:
        return self._load(height, 0)

    def load_commit(self, height: int) -> bytes | None:
        return self._load(height, 1)

    def load_app_hash(self, height: int) -> bytes | None:
        return self._load(height, 2)

    def load_results(self, height: int) -> bytes | None:
        return self._load(height, 3)

    def load_tx_index(self, tx_id: bytes) -> bytes | None:
        self._check_open()
        return self._tx_index.get(check_bytes(tx_id, "tx_id"))

    def get_state(self, key: bytes) -> bytes | None:
        self._check_open()
        return self._state.get(check_bytes(key, "state key"))

    def iter_state(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Entries under `prefix` in key order, as of the first `next()` (a snapshot)."""
        self._check_open()
        raw = check_bytes(prefix, "prefix")
        if len(raw) > MAX_KEY_SIZE:
            return iter(())
        return self._iter_state(raw)

    def _iter_state(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        items = sorted((k, v) for k, v in self._state.items() if k.startswith(prefix))
        yield from items

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- helpers -----------------------------------------------------------------------------

    def _load(self, height: int, field: int) -> bytes | None:
        self._check_open()
        if not readable_height(height) or height > len(self._heights):
            return None
        return self._heights[height - 1][field]

    def _maybe_fail(self, what: str) -> None:
        if self._failures_pending > 0:
            self._failures_pending -= 1
            raise StoreError(f"injected storage failure while saving {what}")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("the store is closed")
