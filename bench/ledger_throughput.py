"""Ledger throughput: blocks of 1,000 signed transfers through validate + execute + apply.

Rows (transfers per second, best of the measured blocks, one core):
  - decoding alone (`decode_tx`: what every validator pays once per transfer),
  - signatures checked in the block (cold: nothing was seen by the mempool first),
  - signatures already verified by the mempool (what a validator pays at commit time),
  - signature checks off (a scheme that accepts everything),
  - the same with each block also committed to the LMDB store (synced), if it exists,
next to the single-core Ed25519 verification rate (pynacl) measured here.

    python bench/ledger_throughput.py [--blocks 5] [--accounts 200]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import tempfile
import time
from collections.abc import Callable

from consensus.crypto import ED25519, Ed25519Signer, SignatureScheme
from consensus.interfaces import HeightRecord
from ledger.app import LedgerApp
from ledger.genesis import Genesis, GenesisCurrency, GenesisParticipant, GenesisValidator, Limits
from ledger.signing import make_tx
from ledger.tx import Mint, Transfer
from ledger.txcodec import decode_tx

CHAIN = "bench"
BLOCK = 1000


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
        limits=Limits(max_validity_window=10_000),
        participants=tuple(
            GenesisParticipant(h.public_key, f"h{i}", 10**9) for i, h in enumerate(holders)
        ),
    )
    counter = 0

    def tx(who: Ed25519Signer, body: object) -> bytes:
        nonlocal counter
        counter += 1
        return make_tx(who, CHAIN, body, tx_id=counter.to_bytes(16, "big"), valid_until_height=9000)  # type: ignore[arg-type]

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
    store_factory: Callable[[], object] | None = None,
) -> float:
    """Best transfers/s over `blocks` (after a funding block)."""
    app = LedgerApp(genesis, scheme)
    store = store_factory() if store_factory else None

    def one(txs: list[bytes]) -> float:
        height = app.height + 1
        if precheck:
            for t in txs:
                assert app.check_tx(t, height).accepted
        start = time.perf_counter()
        assert app.validate_block_txs(height, txs) is None
        execution = app.execute_block(height, 0, txs)
        if store is not None:
            store.save_height(  # type: ignore[attr-defined]
                HeightRecord(
                    height,
                    b"",
                    b"",
                    execution.app_hash,
                    execution.writes,
                    execution.encoded_results,
                )
            )
        app.apply(execution)
        elapsed = time.perf_counter() - start
        assert all(r.code == "OK" for r in execution.results), execution.results[:3]
        return elapsed

    one(funding)
    best = min(one(txs) for txs in blocks)
    if store is not None:
        store.close()  # type: ignore[attr-defined]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--accounts", type=int, default=200)
    args = parser.parse_args()
    genesis, funding, blocks = build(args.accounts, args.blocks)
    print(f"blocks of {BLOCK} transfers, {args.accounts} accounts, best of {args.blocks} blocks")
    print(f"{'Ed25519 verify (pynacl, 1 core)':48s} {verify_rate():>10,.0f} sig/s")
    decoded = decode_rate(blocks[0])
    print(f"{'decode_tx (one per transfer per validator)':48s} {decoded:>10,.0f} transfers/s")
    rows: list[tuple[str, SignatureScheme, bool]] = [
        ("signatures checked in the block (cold)", ED25519, False),
        ("signatures verified earlier by the mempool", ED25519, True),
        ("signature checks off", AcceptAll(), False),
    ]
    for label, scheme, precheck in rows:
        rate = run(genesis, funding, blocks, scheme, precheck=precheck)
        print(f"{label:48s} {rate:>10,.0f} transfers/s")
    try:
        lmdb_store = importlib.import_module("ledger.store_lmdb").LmdbStore
    except (ImportError, AttributeError):
        print("LMDB commit row skipped: ledger.store_lmdb.LmdbStore is not available")
        return
    with tempfile.TemporaryDirectory() as tmp:
        n = iter(range(1000))
        rate = run(
            genesis, funding, blocks, ED25519, precheck=True,
            store_factory=lambda: lmdb_store.open(os.path.join(tmp, f"s{next(n)}")),
        )  # fmt: skip
        label = "+ synced LMDB commit (mempool-verified)"
        print(f"{label:48s} {rate:>10,.0f} transfers/s")


if __name__ == "__main__":
    main()
