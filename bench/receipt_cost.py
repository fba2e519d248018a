"""What a receipt costs: its size through the API, building it on a validator, verifying it.

Builds certified blocks in memory with the real ledger (4 Ed25519 validators, every commit
signed by all four): after a mint, block 2 holds one transfer and block 3 `--txs` transfers
(default 2,000, the default `max_block_txs`). It then measures

- the size of one receipt as `GET /txs/{id}/receipt` serves it (the real API app, over HTTP
  on 127.0.0.1) and of the whole `GET /txs/{id}` JSON answer, for each block;
- the validator's cost of one receipt on the big block: cold (the block read and decoded,
  both Merkle trees built: `network.receipts.block_trees`) and warm (from the cache's trees);
- the SDK's cost of verifying one (`network.client_proofs.check_receipt`: the certificate's
  four signatures, both paths, the transaction's bytes).

With `--network` it also starts a real 4-validator network (`network.localnet`), commits one
transfer and reports the size of its receipt through that network's API (a real commit
certificate holds 3 or 4 precommits). Run from the repository root:

    python bench/receipt_cost.py [--txs 2000] [--repeat 20] [--network]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio

from consensus import codec
from consensus.crypto import Ed25519Signer
from consensus.merkle import merkle_root
from consensus.messages import Commit, Vote, VoteType
from consensus.replica.block import GENESIS_BLOCK_ID, block_id, encode_block, make_block
from consensus.signing import sign_vote
from ledger.app import LedgerApp
from ledger.genesis import Genesis, parse_genesis
from ledger.signing import make_tx
from ledger.tx import Mint, RegisterParticipant, Transfer
from ledger.txcodec import from_wire
from network.api import create_app
from network.api_limits import ApiLimits
from network.api_server import serve_api
from network.client_proofs import check_receipt
from network.nodeview import TxStatus
from network.receipts import ReceiptCache, block_trees, read_tx_status

CHAIN = "receipt-bench"
VALIDATORS = [Ed25519Signer(bytes([0xA0 + i]) * 32) for i in range(4)]
COMPLIANCE = Ed25519Signer(b"\xc0" * 32)


ISSUER = Ed25519Signer(b"\xc1" * 32)
ALICE = Ed25519Signer(b"\xc2" * 32)
BOB = Ed25519Signer(b"\xc3" * 32)


def genesis() -> Genesis:
    return parse_genesis(
        {
            "chain_id": CHAIN,
            "validators": [
                {"name": f"v{i}", "public_key": v.public_key.hex(), "power": 10}
                for i, v in enumerate(VALIDATORS)
            ],
            "currencies": [
                {
                    "code": "USD",
                    "scale": 2,
                    "issuer": ISSUER.public_key.hex(),
                    "mint_allowance": 10**12,
                }
            ],
            "participants": [
                {"key": who.public_key.hex(), "name": name, "kyc_expiry_height": 10**9}
                for name, who in (("alice", ALICE), ("bob", BOB))
            ],
            "governors": [COMPLIANCE.public_key.hex()],
            "compliance": [COMPLIANCE.public_key.hex()],
        }
    )


class Chain:
    """Certified blocks kept as a store keeps them, and the API's view of them."""

    def __init__(self, g: Genesis) -> None:
        self.genesis = g
        self.app = LedgerApp(g)
        self.blocks: dict[int, tuple[bytes, bytes, bytes]] = {}  # block, results, commit
        self.index: dict[bytes, bytes] = {}
        self.receipts = ReceiptCache(self)
        self.height = 0

    def commit(self, txs: list[bytes]) -> None:
        h = self.height + 1
        execution = self.app.execute_block(h, h * 1000, txs)
        prev = self.blocks.get(h - 1)
        last_commit = None if prev is None else codec.decode_commit(prev[2])
        block = make_block(
            chain_id=CHAIN,
            height=h,
            time_ms=h * 1000,
            prev_block_id=GENESIS_BLOCK_ID if last_commit is None else last_commit.block_id,
            app_hash=execution.app_hash,
            results_root=merkle_root(execution.result_leaves),
            proposer=VALIDATORS[0].public_key,
            txs=txs,
            last_commit=last_commit,
        )
        bid = block_id(block.header)
        votes = tuple(
            sign_vote(v, CHAIN, Vote(VoteType.PRECOMMIT, h, 0, bid, b""))
            for v in sorted(VALIDATORS, key=lambda s: s.public_key)
        )
        commit = codec.encode_commit(Commit(h, 0, bid, votes))
        self.blocks[h] = (encode_block(block), codec.packb(list(execution.result_leaves)), commit)
        self.index.update(execution.tx_index)
        self.app.apply(execution)
        self.height = h

    def tx_status_code(self, tx: bytes) -> str | None:
        committed = read_tx_status(self, self.receipts, from_wire(tx).tx_id, bool).committed
        return None if committed is None else committed.code

    # network.receipts.TxIndexSource
    def last_height(self) -> int:
        return self.height

    def load_block(self, height: int) -> bytes | None:
        return self.blocks[height][0] if height in self.blocks else None

    def load_results(self, height: int) -> bytes | None:
        return self.blocks[height][1] if height in self.blocks else None

    def load_commit(self, height: int) -> bytes | None:
        return self.blocks[height][2] if height in self.blocks else None

    def load_tx_index(self, tx_id: bytes) -> bytes | None:
        return self.index.get(tx_id)


class View:
    """The part of `network.nodeview.NodeView` the receipt routes use."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.chain_id = CHAIN
        self.validators = chain.genesis.validator_set()

    def tx_status(self, tx_id: bytes) -> TxStatus:
        return read_tx_status(self.chain, self.chain.receipts, tx_id, lambda _id: False)


def median_us(fn: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


async def sizes_through_api(chain: Chain, txs: dict[str, bytes]) -> dict[str, tuple[int, int]]:
    """{label: (receipt bytes, GET /txs/{id} JSON bytes)} through the real app over HTTP."""
    app = create_app(View(chain), limits=ApiLimits())  # type: ignore[arg-type]
    out = {}
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve_api, app, "127.0.0.1", 0)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for label, tx in txs.items():
                tx_id = from_wire(tx).tx_id.hex()
                raw = await http.get(f"/txs/{tx_id}/receipt")
                status = await http.get(f"/txs/{tx_id}")
                assert raw.status_code == 200 and status.status_code == 200
                out[label] = (len(raw.content), len(status.content))
        nursery.cancel_scope.cancel()
    return out


async def network_receipt_size() -> tuple[int, int]:
    """(receipt bytes, precommits) of a 1-transaction block on a real 4-validator network."""
    from network.client import DepositClient
    from network.keys import load_key
    from network.localnet import LocalNetwork

    with (
        tempfile.TemporaryDirectory(prefix="depositnet-receipt-") as tmp,
        LocalNetwork(Path(tmp), validators=4) as net,
    ):
        net.start_all()
        compliance = next(
            k
            for k in (load_key(p) for p in sorted(Path(net.keys_dir).glob("*.key")))
            if k.public_key == net.genesis.compliance[0]
        )
        async with DepositClient(net.api_urls, net.genesis) as client:
            body = RegisterParticipant(b"\x55" * 32, "receipt-bench", 10**9)
            final = await client.sign_and_wait(compliance, body, timeout_s=60)
            async with httpx.AsyncClient() as http:
                raw = await http.get(f"{final.node_url}/txs/{final.tx_id.hex()}/receipt")
            precommits = len(codec.decode_commit(final.receipt.commit).precommits)
            return len(raw.content), precommits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--network", action="store_true")
    args = parser.parse_args()
    g = genesis()
    chain = Chain(g)

    def transfer(i: int) -> bytes:
        body = Transfer(ALICE.public_key, BOB.public_key, "USD", 1, "")
        return make_tx(ALICE, CHAIN, body, nonce=i.to_bytes(16, "big"), valid_until_ms=100_000)

    mint = Mint(ALICE.public_key, "USD", 10**9, "deposit-1")
    chain.commit([make_tx(ISSUER, CHAIN, mint, nonce=bytes(16), valid_until_ms=100_000)])
    txs = [transfer(i) for i in range(1, args.txs + 2)]
    chain.commit(txs[:1])  # a block of one transfer
    chain.commit(txs[1:])  # a full block of transfers
    block, results, commit = chain.blocks[3]
    first = txs[1]  # leaf 0 of the big block: its paths are the longest (11 levels at 2,000)
    assert chain.tx_status_code(first) == "OK"
    sizes = trio.run(sizes_through_api, chain, {"1-tx block": txs[0], "big block": first})
    cold = median_us(lambda: block_trees(3, block, results, commit), args.repeat)
    trees = block_trees(3, block, results, commit)
    warm = median_us(lambda: trees.receipt(0).encode(), args.repeat * 50)
    receipt = trees.receipt(0).encode()
    verify = median_us(lambda: check_receipt(g, receipt, signed=first), args.repeat * 5)
    print(f"receipt through the API, 4 validators (all 4 precommits), {CHAIN}:")
    for label, (raw, as_json) in sizes.items():
        print(f"  {label:<12} receipt {raw:,} bytes; GET /txs/{{id}} JSON {as_json:,} bytes")
    print(f"  (the {args.txs:,}-tx block itself: {len(block):,} bytes)")
    print(f"one receipt of the {args.txs:,}-tx block, validator side (median of runs):")
    print(f"  cold (block decoded, both trees built): {cold / 1000:.1f} ms")
    print(f"  warm (trees cached): {warm:.0f} us")
    print(f"SDK verification of one receipt (check_receipt): {verify / 1000:.2f} ms")
    if args.network:
        size, precommits = trio.run(network_receipt_size)
        print(f"real network, 1-tx block: receipt {size:,} bytes ({precommits} precommits)")


if __name__ == "__main__":
    main()
