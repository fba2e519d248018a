"""How fast the LMDB store makes things durable: blocks of 1,000 writes, and sign-state saves.

Both numbers bound a validator: every committed height is one synced LMDB transaction, and every
vote waits for one synced sign-state save. Run from the repository root:

    python bench/store_commit.py [--heights 200] [--writes 1000] [--sign-saves 500] [--dir D]

The store lives in a fresh temporary directory (on the same filesystem as --dir, default the
system temp dir) so the figures include real fsyncs. Keys are spread over a growing state of
16-byte keys with 100-byte values, about what a transfer touches, and every block indexes one
used tx_id per two writes (one transfer).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time

from consensus.interfaces import HeightRecord
from ledger.store_lmdb import LmdbStore
from ledger.used_ids import UsedId


def _record(height: int, writes_per_block: int) -> HeightRecord:
    writes: dict[bytes, bytes | None] = {}
    for i in range(writes_per_block):
        key = hashlib.blake2b(b"%d/%d" % (height, i), digest_size=16).digest()
        writes[key] = key * 6 + b"\x00" * 4  # 100 bytes
    return HeightRecord(
        height=height,
        block=b"b" * (writes_per_block * 120),
        commit=b"c" * 400,
        app_hash=hashlib.sha256(b"%d" % height).digest(),
        writes=writes,
        tx_index=_used_ids(height, writes_per_block // 2),
        results=b"r" * (writes_per_block // 2 * 40),  # a result leaf per transfer
    )


def _used_ids(height: int, transfers: int) -> dict[bytes, bytes]:
    """The used-id index entries of a block of `transfers` (about 2 state writes each)."""
    body_hash = hashlib.sha256(b"body").digest()
    return {
        hashlib.blake2b(b"tx%d/%d" % (height, i), digest_size=16).digest(): UsedId(
            height, i, body_hash, "OK"
        ).encode()
        for i in range(transfers)
    }


def bench(directory: str | None, heights: int, writes: int, sign_saves: int) -> None:
    where = tempfile.mkdtemp(prefix="depositnet-bench-", dir=directory)
    try:
        with LmdbStore.open(where, map_size=4 << 30) as store:
            records = [_record(h, writes) for h in range(1, heights + 1)]
            start = time.perf_counter()
            for record in records:
                store.save_height(record)
            blocks = time.perf_counter() - start
            start = time.perf_counter()
            for i in range(sign_saves):
                store.save_sign_state(b"sign state %d " % i + b"s" * 200)
            signs = time.perf_counter() - start
        print(f"store dir: {where}")
        print(
            f"save_height: {heights} blocks of {writes} writes in {blocks:.2f} s = "
            f"{heights / blocks:.1f} blocks/s ({heights * writes / blocks:,.0f} writes/s)"
        )
        print(
            f"save_sign_state: {sign_saves} saves in {signs:.2f} s = {sign_saves / signs:.0f}/s "
            f"({1000 * signs / sign_saves:.2f} ms each)"
        )
    finally:
        shutil.rmtree(where, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heights", type=int, default=200)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--sign-saves", type=int, default=500)
    parser.add_argument("--dir", default=None, help="parent directory of the temporary store")
    args = parser.parse_args()
    bench(args.dir, args.heights, args.writes, args.sign_saves)


if __name__ == "__main__":
    main()
