"""Peer bytes decoded once: a memo of `decode_wire` and `decode_block` results, keyed by the bytes.

Why: a broadcast reaches every validator as the same bytes, and gossip re-sends them; decoding
(unpack, canonical re-encode, field checks, the block's hashes) is a pure function of those
bytes, so validators that share a memo (the simulator's, all in one process) decode each
message once instead of once per receiver. Decoded values are frozen, so sharing them is safe.

The memo changes no answer: a hit returns what decoding the same bytes returned (the value, or
a `DecodeError` with the same message), and the size limit is applied before the memo is
consulted, exactly as decoding would apply it. Only exact `bytes` are memoised (anything else is
decoded, or refused, directly). Both tables are bounded by entries and by the bytes of their
keys, and are simply cleared when full.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from consensus.codec import DecodeError
from consensus.replica.block import Block, decode_block
from consensus.replica.wire import MAX_WIRE_BYTES, WireMessage, decode_wire

T = TypeVar("T")

DEFAULT_MAX_ENTRIES = 20_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class _Table:
    """bytes -> decoded value or refusal message, bounded by entries and key bytes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self.items: dict[bytes, object] = {}
        self._bytes = 0

    def get(self, data: bytes, limit: int, decode: Callable[[bytes, int], T]) -> T:
        if type(data) is not bytes or len(data) > limit:
            return decode(data, limit)  # refused by the size (or type) check, never memoised
        try:
            found = self.items[data]
        except KeyError:
            try:
                found = decode(data, limit)
            except DecodeError as exc:
                found = _Refused(str(exc))
            if len(self.items) >= self._max_entries or self._bytes + len(data) > self._max_bytes:
                self.items.clear()
                self._bytes = 0
            self.items[data] = found
            self._bytes += len(data)
        if type(found) is _Refused:
            raise DecodeError(found.reason)
        return found  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.items)


class _Refused:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class DecodeMemo:
    """Memoised `decode_wire` and `decode_block` (see the module docstring).

    Callers pass the decoding function they would have called, looked up where they would have
    looked it up, and each function gets its own table: a function replaced for a run (a
    planted bug, a test double) is still the one that decodes for that caller."""

    def __init__(
        self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._tables: dict[object, _Table] = {}

    def _table(self, decode: object) -> _Table:
        table = self._tables.get(decode)
        if table is None:
            table = self._tables[decode] = _Table(self._max_entries, self._max_bytes)
        return table

    def wire(
        self,
        payload: bytes,
        max_size: int = MAX_WIRE_BYTES,
        decode: Callable[[bytes, int], WireMessage] = decode_wire,
    ) -> WireMessage:
        """`decode(payload, max_size)` (`decode_wire`), memoised."""
        limit = max_size if max_size < MAX_WIRE_BYTES else MAX_WIRE_BYTES
        table = self._tables.get(decode)
        if table is not None and type(payload) is bytes and len(payload) <= limit:
            found = table.items.get(payload)  # the common case, inline: a decoded message
            if found is not None and type(found) is not _Refused:
                return found  # type: ignore[return-value]
        return self._table(decode).get(payload, limit, decode)

    def block(
        self, data: bytes, max_size: int, decode: Callable[[bytes, int], Block] = decode_block
    ) -> Block:
        """`decode(data, max_size)` (`decode_block`), memoised."""
        return self._table(decode).get(data, max_size, decode)
