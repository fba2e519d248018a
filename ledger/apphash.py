"""The app hash: an incremental digest of the whole key/value state.

A multiset hash (after Clarke et al.'s MSet-Add-Hash): each entry (key, value) maps to a
512-bit number, blake2b-512 of the length-prefixed key followed by the value, and the state's
accumulator is the sum of those numbers modulo 2**512. Writing a key subtracts its old entry
and adds its new one, so a block costs time proportional to its writes, not to the state, and
the order in which entries were written never matters: equal states give equal accumulators.
The app hash of height h is blake2b-256 over a domain tag, the accumulator and h.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

_MODULUS = 1 << 512
_DOMAIN = b"depositnet/apphash/v1\x00"


def entry_digest(key: bytes, value: bytes) -> int:
    """The 512-bit number one state entry contributes to the accumulator."""
    h = hashlib.blake2b(len(key).to_bytes(4, "big"), digest_size=64)
    h.update(key)
    h.update(value)
    return int.from_bytes(h.digest(), "big")


class Accumulator:
    """The running sum of entry digests; cheap to copy, updated write by write."""

    __slots__ = ("value",)

    def __init__(self, value: int = 0) -> None:
        self.value = value % _MODULUS

    @classmethod
    def of_state(
        cls, entries: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]]
    ) -> Accumulator:
        """The accumulator of a whole state (used once, at genesis or when loading a store)."""
        items = entries.items() if isinstance(entries, Mapping) else entries
        return cls(sum(entry_digest(k, v) for k, v in items))

    def copy(self) -> Accumulator:
        return Accumulator(self.value)

    def update(self, key: bytes, old: bytes | None, new: bytes | None) -> None:
        """Account for `key` changing from `old` to `new` (None: absent)."""
        value = self.value
        if old is not None:
            value -= entry_digest(key, old)
        if new is not None:
            value += entry_digest(key, new)
        self.value = value % _MODULUS

    def app_hash(self, height: int) -> bytes:
        """The 32-byte app hash of this state at `height`."""
        h = hashlib.blake2b(_DOMAIN, digest_size=32)
        h.update(self.value.to_bytes(64, "big"))
        h.update(height.to_bytes(8, "big"))
        return h.digest()
