"""The mempool: admission, arrival-order reaping and removal after each block. Pure, no I/O.

Admission runs the app's static checks (decoding, size, chain, signature once, validity
window, a tx_id already committed) and then the pool's own: a tx_id already pending, and the
bounds on count and bytes, refused with MEMPOOL_FULL (never evicting what is already admitted,
so a flood cannot push out earlier clients' transactions). `add(tx, time_ms)` takes the time a
block proposed now would have. `reap(..., time_ms)` fills a proposal whose time is `time_ms`
with what is valid at that time, dropping what expired. After a block commits, `update` drops
its transactions and every transaction that expired by its time (`valid_until_ms < time_ms`):
block times only grow, so an expired transaction can never be included again.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from consensus.interfaces import TxAdmission
from ledger.app import LedgerApp
from ledger.codes import Code


@attrs.frozen
class _Entry:
    tx: bytes
    valid_until_ms: int
    body_hash: bytes


@attrs.frozen
class MempoolStatistics:
    count: int
    size_bytes: int
    max_count: int
    max_bytes: int


class Mempool:
    """Pending transactions of one validator (implements consensus.interfaces.Mempool)."""

    def __init__(self, app: LedgerApp, *, max_count: int = 10_000, max_bytes: int = 8 << 20):
        assert max_count > 0 and max_bytes > 0
        self._app = app
        self._window_ms = app.limits.max_validity_window_ms
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._entries: dict[bytes, _Entry] = {}  # tx_id -> entry, in arrival order
        self._size_bytes = 0

    def add(self, tx: bytes, time_ms: int) -> TxAdmission:
        if self.is_full(len(tx)):
            # Refused before any decoding or signature check: an overloaded validator must
            # not spend CPU or memory (the verification cache) on what it cannot keep.
            return self._full(b"")
        admission, dtx = self._app.admit(tx, time_ms)
        if dtx is None:
            return admission
        tx_id = dtx.tx.tx_id
        pending = self._entries.get(tx_id)
        if pending is not None:
            if pending.body_hash == dtx.body_hash:
                return TxAdmission(False, tx_id, Code.ALREADY_IN_MEMPOOL.value, "already pending")
            self._app.verified.forget([tx])
            return TxAdmission(
                False, tx_id, Code.DUPLICATE_TX_ID.value, "a different pending tx has this id"
            )
        self._entries[tx_id] = _Entry(tx, dtx.tx.valid_until_ms, dtx.body_hash)
        self._size_bytes += len(tx)
        return admission  # the app's acceptance: (True, tx_id, OK)

    def is_full(self, incoming_bytes: int = 0) -> bool:
        """True if the pool cannot take `incoming_bytes` more (or any transaction at all)."""
        return (
            len(self._entries) >= self.max_count
            or self._size_bytes + incoming_bytes > self.max_bytes
        )

    def _full(self, tx_id: bytes) -> TxAdmission:
        return TxAdmission(
            False,
            tx_id,
            Code.MEMPOOL_FULL.value,
            f"the mempool holds {len(self._entries)} txs / {self._size_bytes} bytes",
        )

    def contains(self, tx_id: bytes) -> bool:
        return tx_id in self._entries

    def pending(self, max_bytes: int, max_count: int) -> list[bytes]:
        """The oldest transactions, in arrival order, stopping at the first that doesn't fit."""
        out: list[bytes] = []
        total = 0
        for entry in self._entries.values():
            if len(out) >= max_count or total + len(entry.tx) > max_bytes:
                break
            out.append(entry.tx)
            total += len(entry.tx)
        return out

    def reap(self, max_bytes: int, max_count: int, time_ms: int) -> list[bytes]:
        """The oldest transactions valid at `time_ms`, in arrival order, stopping at the first
        that doesn't fit. Expired ones are dropped; those too far ahead for that time (a
        proposer's clock behind the admitting validator's) wait for a later block."""
        out: list[bytes] = []
        total = 0
        expired = []
        for tx_id, entry in self._entries.items():
            if entry.valid_until_ms < time_ms:
                expired.append(tx_id)
                continue
            if entry.valid_until_ms > time_ms + self._window_ms:
                continue
            if len(out) >= max_count or total + len(entry.tx) > max_bytes:
                break
            out.append(entry.tx)
            total += len(entry.tx)
        self._drop(expired)
        return out

    def update(self, height: int, time_ms: int, committed_tx_ids: Sequence[bytes]) -> None:
        for tx_id in committed_tx_ids:
            self._remove(tx_id)
        self._drop([t for t, e in self._entries.items() if e.valid_until_ms < time_ms])

    def _drop(self, tx_ids: list[bytes]) -> None:
        """Forget expired transactions (and their verification cache entries)."""
        self._app.verified.forget(self._entries[t].tx for t in tx_ids)
        for tx_id in tx_ids:
            self._remove(tx_id)

    def _remove(self, tx_id: bytes) -> None:
        entry = self._entries.pop(tx_id, None)
        if entry is not None:
            self._size_bytes -= len(entry.tx)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._size_bytes

    def statistics(self) -> MempoolStatistics:
        return MempoolStatistics(
            len(self._entries), self._size_bytes, self.max_count, self.max_bytes
        )
