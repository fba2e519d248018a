"""Ledger throughput: blocks of 1,000 signed transfers through validate + execute + apply.

Rows (transfers per second, best of the measured blocks, one core):
  - decoding alone (`decode_tx`: what every validator pays once per transfer),
  - signatures checked in the block (cold: nothing was seen by the mempool first),
  - signatures already verified by the mempool (what a validator pays at commit time),
  - signature checks off (a scheme that accepts everything),
  - the same with each block also committed to the LMDB store (synced), the ledger reading
    its used-id index from that store, as a node's does,
next to the single-core Ed25519 verification rate (pynacl) measured here. The rows without a
store keep the used-id index in memory (`LedgerApp` with no store).

Then the used-id index alone: a validator looks every transaction's id up in the store's
tx_index twice (at admission, and again when its block executes), so moving the index out of
the heap costs 2 lookups per transfer. Measured through `ledger.used_ids.UsedIds.get` (the
ledger's own path: an LMDB read transaction, and decoding the record when the id is known)
against an LMDB store holding `--index-ids` committed ids, for ids never used (a new payment:
the common case) and ids already committed (a retry), beside the same lookups in memory.

    python bench/ledger_throughput.py [--blocks 5] [--accounts 200] [--index-ids 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence

from consensus import codec
from consensus.crypto import ED25519, Ed25519Signer, SignatureScheme
from consensus.interfaces import HeightRecord
from ledger.app import LedgerApp
from ledger.genesis import Genesis, GenesisCurrency, GenesisParticipant, GenesisValidator
from ledger.signing import make_tx
from ledger.store_lmdb import LmdbStore
from ledger.tx import Mint, Transfer
from ledger.txcodec import decode_tx
from ledger.used_ids import UsedId, UsedIds

CHAIN = "bench"
BLOCK = 1000
BLOCK_INTERVAL_MS = 1000  # block h has time h x this (the genesis time is 0)
VALID_UNTIL_MS = 300_000  # inside the default 10-minute window of every block here
INDEX_BLOCK = 10_000  # committed ids per height when filling the index
LOOKUPS = 20_000  # per lookup row, best of 3


class AcceptAll:
    """A scheme that accepts every signature: the 'checks off' row."""

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return True


def key(name: str) -> Ed25519Signer:
    return Ed25519Signer(hashlib.blake2b(name.encode(), digest_size=32).digest())


def build(accounts: int, blocks: int) -> tuple[Genesis, list[bytes], list[list[bytes]]]:
    issuer = key("issuer")
    holders = [key(f"holder-{i}") for i in range(accounts)]
    genesis = Genesis(
        chain_id=CHAIN,
        validators=(GenesisValidator("v0", key("v0").public_key, 1),),
        currencies=(GenesisCurrency("USD", 2, issuer.public_key, 10**15),),
        governors=(key("gov").public_key,),
        compliance=(key("comp").public_key,),
        participants=tuple(
            GenesisParticipant(h.public_key, f"h{i}", 10**9) for i, h in enumerate(holders)
        ),
    )
    counter = 0

    def tx(who: Ed25519Signer, body: Mint | Transfer) -> bytes:
        nonlocal counter
        counter += 1
        nonce = counter.to_bytes(16, "big")
        return make_tx(who, CHAIN, body, nonce=nonce, valid_until_ms=VALID_UNTIL_MS)

    funding = [tx(issuer, Mint(h.public_key, "USD", 10**9, f"d{i}")) for i, h in enumerate(holders)]
    transfer_blocks = []
    for b in range(blocks):
        txs = []
        for i in range(BLOCK):
            src = holders[(b * BLOCK + i) % accounts]
            dst = holders[(b * BLOCK + i * 7 + 1) % accounts]
            if dst is src:
                dst = holders[(holders.index(src) + 1) % accounts]
            txs.append(tx(src, Transfer(src.public_key, dst.public_key, "USD", 1 + i % 97, "")))
        transfer_blocks.append(txs)
    return genesis, funding, transfer_blocks


def run(
    genesis: Genesis,
    funding: list[bytes],
    blocks: list[list[bytes]],
    scheme: SignatureScheme,
    *,
    precheck: bool,
    store_factory: Callable[[], LmdbStore] | None = None,
) -> float:
    """Best transfers/s over `blocks` (after a funding block). With a store, every block is
    saved to it before it is applied, and the ledger reads its used-id index from it."""
    store = store_factory() if store_factory else None
    app = LedgerApp(genesis, scheme, index=store)

    def one(txs: list[bytes]) -> float:
        height = app.height + 1
        time_ms = height * BLOCK_INTERVAL_MS
        if precheck:
            for t in txs:
                assert app.check_tx(t, time_ms).accepted
        start = time.perf_counter()
        assert app.validate_block_txs(height, time_ms, txs) is None
        execution = app.execute_block(height, time_ms, txs)
        if store is not None:
            store.save_height(
                HeightRecord(
                    height,
                    b"",
                    b"",
                    execution.app_hash,
                    execution.writes,
                    execution.tx_index,
                    codec.packb(list(execution.result_leaves)),
                )
            )
        app.apply(execution)
        elapsed = time.perf_counter() - start
        assert all(r.code == "OK" for r in execution.results), execution.results[:3]
        return elapsed

    one(funding)
    best = min(one(txs) for txs in blocks)
    if store is not None:
        store.close()
    return BLOCK / best


def verify_rate(samples: int = 5000) -> float:
    signer = key("verify")
    msgs = [i.to_bytes(8, "big") * 16 for i in range(samples)]
    sigs = [signer.sign(m) for m in msgs]
    start = time.perf_counter()
    for m, s in zip(msgs, sigs, strict=True):
        assert ED25519.verify(signer.public_key, m, s)
    return samples / (time.perf_counter() - start)


def decode_rate(txs: list[bytes]) -> float:
    """Transfers decoded per second (canonical check, fields, sign bytes, body hash), best of 3."""
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for tx in txs:
            decode_tx(tx)
        best = max(best, len(txs) / (time.perf_counter() - start))
    return best


def fake_id(label: bytes, i: int) -> bytes:
    """A 16-byte id like a derived tx_id (blake2b-128: uniformly spread keys)."""
    return hashlib.blake2b(label + i.to_bytes(8, "big"), digest_size=16).digest()


def fill_index(store: LmdbStore, ids: int) -> list[bytes]:
    """Commit `ids` used ids to `store` (INDEX_BLOCK per height, no state); the ids."""
    committed = []
    body_hash = b"\x5a" * 32
    for height, first in enumerate(range(0, ids, INDEX_BLOCK), start=1):
        entries = {}
        for index in range(min(INDEX_BLOCK, ids - first)):
            tx_id = fake_id(b"used", first + index)
            entries[tx_id] = UsedId(height, index, body_hash, "OK").encode()
            committed.append(tx_id)
        app_hash = hashlib.sha256(b"%d" % height).digest()
        store.save_height(HeightRecord(height, b"b", b"c", app_hash, {}, entries, b""))
    return committed


def lookup_rate(index: UsedIds, tx_ids: Sequence[bytes], known: bool) -> float:
    """`index.get` calls per second over `tx_ids`, best of 3 (each must be known or not)."""
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for tx_id in tx_ids:
            found = index.get(tx_id)
            if (found is not None) != known:
                raise AssertionError(f"tx_id {tx_id.hex()} known={found is not None}")
        best = max(best, len(tx_ids) / (time.perf_counter() - start))
    return best


def index_rows(directory: str, ids: int) -> list[tuple[str, float]]:
    """(label, lookups/s) for new and committed ids, in LMDB and in memory."""
    rng = random.Random(1)
    fresh = [fake_id(b"new", i) for i in range(LOOKUPS)]
    with LmdbStore.open(os.path.join(directory, "index"), map_size=8 << 30) as store:
        committed = fill_index(store, ids)
        known = [committed[rng.randrange(ids)] for _ in range(LOOKUPS)]
        lmdb_index = UsedIds(store)
        rows = [
            (f"LMDB tx_index ({ids:,} ids), a new id", lookup_rate(lmdb_index, fresh, False)),
            (f"LMDB tx_index ({ids:,} ids), a committed id", lookup_rate(lmdb_index, known, True)),
        ]
        memory = UsedIds()  # no store: the ledger's in-heap index, for comparison
        memory.applied(1, {tx_id: store.load_tx_index(tx_id) or b"" for tx_id in known})
    rows += [
        ("in memory, a new id", lookup_rate(memory, fresh, False)),
        ("in memory, a committed id", lookup_rate(memory, known, True)),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--index-ids", type=int, default=1_000_000, help="ids in the LMDB index")
    args = parser.parse_args()
    if args.blocks < 1 or args.accounts < 2 or args.index_ids < 1:
        parser.error("--blocks and --index-ids must be positive, --accounts at least 2")
    genesis, funding, blocks = build(args.accounts, args.blocks)
    print(f"blocks of {BLOCK} transfers, {args.accounts} accounts, best of {args.blocks} blocks")
    print(f"{'Ed25519 verify (pynacl, 1 core)':54s} {verify_rate():>10,.0f} sig/s")
    decoded = decode_rate(blocks[0])
    print(f"{'decode_tx (one per transfer per validator)':54s} {decoded:>10,.0f} transfers/s")
    rows: list[tuple[str, SignatureScheme, bool]] = [
        ("signatures checked in the block (cold)", ED25519, False),
        ("signatures verified earlier by the mempool", ED25519, True),
        ("signature checks off", AcceptAll(), False),
    ]
    for label, scheme, precheck in rows:
        rate = run(genesis, funding, blocks, scheme, precheck=precheck)
        print(f"{label:54s} {rate:>10,.0f} transfers/s")
    with tempfile.TemporaryDirectory() as tmp:
        n = iter(range(1000))
        rate = run(
            genesis, funding, blocks, ED25519, precheck=True,
            store_factory=lambda: LmdbStore.open(os.path.join(tmp, f"s{next(n)}")),
        )  # fmt: skip
        label = "+ synced LMDB commit, index in LMDB (mempool-verified)"
        print(f"{label:54s} {rate:>10,.0f} transfers/s")
        print(f"used-id lookups (UsedIds.get, one core, best of 3 x {LOOKUPS:,}):")
        for label, per_s in index_rows(tmp, args.index_ids):
            # a validator looks each transfer up twice: at admission and at execution
            print(f"  {label:52s} {per_s:>10,.0f} lookups/s = {2e6 / per_s:5.1f} us/transfer")


if __name__ == "__main__":
    main()
