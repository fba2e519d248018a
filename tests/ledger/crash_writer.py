"""Commit heights to an LmdbStore in a loop until killed: the victim of the crash-atomicity test.

Run as `python -m tests.ledger.crash_writer STORE_DIR` from the repository root. Every height's
content is a pure function of the height (so the test knows what each block must hold), and its
app hash chains the previous one with a digest of the whole state after the block, so only a
faithful replay of every stored block reproduces the stored hashes. Before each height the
writer saves a sign state naming that height, as the replica does before it votes.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping

import msgpack

from consensus.interfaces import HeightRecord
from ledger.store_lmdb import LmdbStore

KEY_SPACE = 64
WRITES_PER_HEIGHT = 20
BIG_EVERY = 16  # every BIG_EVERY-th height also writes a value spanning many pages
GENESIS_HASH = hashlib.sha256(b"crash-writer genesis").digest()
MAP_SIZE = 256 << 20


def writes_for(height: int) -> dict[bytes, bytes | None]:
    """The state writes of `height`: puts of varied sizes and some deletes."""
    writes: dict[bytes, bytes | None] = {}
    for i in range(WRITES_PER_HEIGHT):
        key = b"key/%03d" % ((height * 31 + i * 7) % KEY_SPACE)
        if (height + i) % 5 == 0:
            writes[key] = None
        else:
            seed = hashlib.sha256(b"%d:%d" % (height, i)).digest()
            writes[key] = seed * (1 + (height * i) % 32)
    if height % BIG_EVERY == 0:
        writes[b"big"] = hashlib.sha256(b"big%d" % height).digest() * 4096
    return writes


def results_for(height: int) -> dict[bytes, bytes]:
    return {b"tx/%d/%d" % (height, j): b"OK %d %d" % (height, j) for j in range(3)}


def encode_block(height: int, writes: Mapping[bytes, bytes | None]) -> bytes:
    return bytes(msgpack.packb([height, sorted(writes.items())]))


def decode_block(block: bytes) -> tuple[int, dict[bytes, bytes | None]]:
    height, pairs = msgpack.unpackb(block)
    return height, {k: v for k, v in pairs}


def apply(state: dict[bytes, bytes], writes: Mapping[bytes, bytes | None]) -> None:
    for key, value in writes.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value


def next_app_hash(previous: bytes, state: Mapping[bytes, bytes]) -> bytes:
    """Chain `previous` with a digest of every (key, value) of `state`, in key order."""
    digest = hashlib.sha256(previous)
    for key in sorted(state):
        value = state[key]
        digest.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
    return digest.digest()


def commit_for(height: int, app_hash: bytes) -> bytes:
    return b"commit %d " % height + app_hash


def sign_state_for(height: int) -> bytes:
    return b"signing height %d" % height


def run(path: str) -> None:
    store = LmdbStore.open(path, map_size=MAP_SIZE)
    state = dict(store.iter_state())
    last = store.last_height()
    app_hash = store.load_app_hash(last) if last else GENESIS_HASH
    assert app_hash is not None
    print(f"ready {last}", flush=True)
    while True:
        height = last + 1
        store.save_sign_state(sign_state_for(height))
        writes = writes_for(height)
        apply(state, writes)
        app_hash = next_app_hash(app_hash, state)
        store.save_height(
            HeightRecord(
                height=height,
                block=encode_block(height, writes),
                commit=commit_for(height, app_hash),
                app_hash=app_hash,
                writes=writes,
                tx_index=results_for(height),
            )
        )
        last = height


if __name__ == "__main__":
    run(sys.argv[1])
