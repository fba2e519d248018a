"""The on-disk layout shared by both stores, and the checks every saved record passes first.

`LmdbStore` and `MemoryStore` must behave identically (a differential test runs them side by
side), so the rules that decide whether a record or a height is acceptable, and the wording of
the errors, live here once. The limits are LMDB's: keys are 1..511 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from consensus.interfaces import HeightRecord, StoreError

FORMAT_VERSION = 2
"""The layout version written into `meta`; a store with any other version is refused.
Version 2: the used-tx-id index (`tx_index`, never overwritten) replaced `tx_results`, and
headers commit to the state after their block."""

DB_BLOCKS = b"blocks"  # height (8 bytes, big-endian) -> encoded block
DB_COMMITS = b"commits"  # height -> encoded commit certificate
DB_APP_HASHES = b"app_hashes"  # height -> app hash after that block
DB_RESULTS = b"results"  # height -> the block's encoded result leaves
DB_STATE = b"state"  # application state key -> value
DB_TX_INDEX = b"tx_index"  # tx_id -> the app's index record (written once, never changed)
DB_META = b"meta"  # the keys below
DB_NAMES = (DB_BLOCKS, DB_COMMITS, DB_APP_HASHES, DB_RESULTS, DB_STATE, DB_TX_INDEX, DB_META)

META_FORMAT_VERSION = b"format_version"  # 4 bytes, big-endian
META_LAST_HEIGHT = b"last_height"  # 8 bytes, big-endian; absent means 0
META_SIGN_STATE = b"sign_state"  # the replica's opaque sign state

MAX_KEY_SIZE = 511
"""LMDB's default key limit; both stores enforce it so they accept exactly the same records."""

MAX_HEIGHT = (1 << 64) - 1


class StoreClosedError(StoreError):
    """The store was used after `close()`."""


class StoreFormatError(StoreError):
    """The files on disk are not a depositnet store this code understands."""


def height_key(height: int) -> bytes:
    """The 8-byte big-endian key of `height`, so LMDB's key order is height order."""
    return height.to_bytes(8, "big")


def encode_version(version: int) -> bytes:
    return version.to_bytes(4, "big")


def decode_height(raw: bytes) -> int:
    """Decode a stored height, refusing anything that is not exactly 8 bytes."""
    if len(raw) != 8:
        raise StoreFormatError(f"stored last height is {len(raw)} bytes, expected 8")
    return int.from_bytes(raw, "big")


def readable_height(height: object) -> bool:
    """Whether `height` could name a stored height (reads of anything else return None)."""
    return type(height) is int and 1 <= height <= MAX_HEIGHT


@attrs.frozen
class CheckedRecord:
    """A `HeightRecord` whose fields were validated and copied to immutable bytes."""

    height: int
    block: bytes
    commit: bytes
    app_hash: bytes
    results: bytes
    writes: tuple[tuple[bytes, bytes | None], ...]  # sorted by key
    tx_index: tuple[tuple[bytes, bytes], ...]  # sorted by tx_id


def check_next_height(last_height: int, height: int) -> None:
    """Refuse any height but the one after `last_height`, naming both."""
    if height != last_height + 1:
        raise StoreError(
            f"cannot save height {height}: the store is at height {last_height} "
            f"and only accepts height {last_height + 1}"
        )


def already_indexed(tx_id: bytes, height: int) -> StoreError:
    """The refusal of a height that would index a tx_id a second time (a tx_id commits once)."""
    return StoreError(
        f"cannot save height {height}: tx_id {tx_id.hex()} is already indexed "
        "(a tx_id commits at most once); nothing was written"
    )


def check_bytes(value: object, what: str) -> bytes:
    """Copy a bytes-like `value` to `bytes`, or raise StoreError naming `what`."""
    if not isinstance(value, bytes | bytearray | memoryview):
        raise StoreError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def check_key(key: object, what: str) -> bytes:
    """A key must be bytes of 1..MAX_KEY_SIZE bytes."""
    raw = check_bytes(key, what)
    if not 1 <= len(raw) <= MAX_KEY_SIZE:
        raise StoreError(f"{what} must be 1..{MAX_KEY_SIZE} bytes long, got {len(raw)}")
    return raw


def check_record(record: object) -> CheckedRecord:
    """Validate everything about `record` that does not depend on the store's contents."""
    if not isinstance(record, HeightRecord):
        raise StoreError(f"expected a HeightRecord, got {type(record).__name__}")
    height = record.height
    if type(height) is not int or not 1 <= height <= MAX_HEIGHT:
        raise StoreError(f"record height must be an int in 1..{MAX_HEIGHT}, got {height!r}")
    if not isinstance(record.writes, Mapping):
        raise StoreError("record writes must be a mapping")
    if not isinstance(record.tx_index, Mapping):
        raise StoreError("record tx_index must be a mapping")
    writes = _checked_items(record.writes, "state key", "state value", allow_none=True)
    index = _checked_items(record.tx_index, "tx_id", "tx index record", allow_none=False)
    return CheckedRecord(
        height=height,
        block=check_bytes(record.block, "block"),
        commit=check_bytes(record.commit, "commit"),
        app_hash=check_bytes(record.app_hash, "app hash"),
        results=check_bytes(record.results, "results"),
        writes=tuple(sorted(writes.items())),
        tx_index=tuple(sorted(index.items())),  # type: ignore[arg-type]  # never None
    )


def _checked_items(
    items: Mapping[Any, Any], key_what: str, value_what: str, *, allow_none: bool
) -> dict[bytes, bytes | None]:
    """`items` with keys and values checked as `check_key` / `check_bytes` would.

    A block writes thousands of entries and nearly all are exact `bytes`: those pass one
    inline test; anything else takes the checking functions (and their error messages)."""
    out: dict[bytes, bytes | None] = {}
    for key, value in items.items():
        if (
            type(key) is bytes
            and 1 <= len(key) <= MAX_KEY_SIZE
            and (type(value) is bytes or (value is None and allow_none))
        ):
            out[key] = value
            continue
        k = check_key(key, key_what)
        if value is None and allow_none:
            out[k] = None
        else:
            out[k] = check_bytes(value, f"{value_what} of {k!r}")
    return out
