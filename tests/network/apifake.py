"""A small in-process chain behind `NodeView`, for testing the API, SDK and CLI without a node.

`FakeChain` runs the real ledger (LedgerApp + Mempool) and produces real blocks with real commit
certificates signed by four Ed25519 validators, but it only commits when a test calls
`commit()`: no consensus, no timers, fully deterministic. It keeps what a store keeps (blocks,
commits, result leaves, the used-id index), so receipts are built by the validators' own code.
`FakeNode` is one validator's view of it; `tamper=` and `tamper_status=` let a test make one
view lie about what it serves, `swallow=True` one that accepts and then loses submissions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import attrs
import trio

from consensus import codec
from consensus.crypto import Ed25519Signer
from consensus.interfaces import TxAdmission
from consensus.merkle import merkle_root
from consensus.messages import Commit, ValidatorSet, Vote, VoteType
from consensus.replica.block import GENESIS_BLOCK_ID, block_id, encode_block, make_block
from consensus.signing import sign_vote
from ledger.app import LedgerApp
from ledger.genesis import Genesis, parse_genesis
from ledger.layout import RED
from ledger.mempool import Mempool
from ledger.queries import pending_redemptions
from ledger.txcodec import from_wire
from network.nodeview import (
    AccountSnapshot,
    CommittedBlock,
    NodeStatus,
    TxStatus,
    account_snapshot,
)
from network.receipts import ReceiptCache, read_tx_status

CHAIN_ID = "fake-chain"


def seeded_signer(label: str) -> Ed25519Signer:
    return Ed25519Signer(hashlib.sha256(label.encode()).digest())


VALIDATORS = [seeded_signer(f"validator-{i}") for i in range(4)]
GOVERNOR = seeded_signer("governor")
COMPLIANCE = seeded_signer("compliance")
ISSUER = seeded_signer("issuer")
ALICE = seeded_signer("alice")
BOB = seeded_signer("bob")


def make_genesis(chain_id: str = CHAIN_ID) -> Genesis:
    return parse_genesis(
        {
            "chain_id": chain_id,
            "validators": [
                {"name": f"v{i}", "public_key": s.public_key.hex(), "power": 10}
                for i, s in enumerate(VALIDATORS)
            ],
            "currencies": [
                {
                    "code": "USD",
                    "scale": 2,
                    "issuer": ISSUER.public_key.hex(),
                    "mint_allowance": 10**12,
                }
            ],
            "governors": [GOVERNOR.public_key.hex()],
            "compliance": [COMPLIANCE.public_key.hex()],
        }
    )


class FakeChain:
    """The shared chain: ledger state, mempool, committed blocks with certificates."""

    def __init__(self, genesis: Genesis | None = None) -> None:
        self.genesis = genesis if genesis is not None else make_genesis()
        self.app = LedgerApp(self.genesis)
        self.mempool = Mempool(self.app)
        self.blocks: dict[int, CommittedBlock] = {}
        self.results: dict[bytes, tuple[int, int, str, str]] = {}  # first uses, by tx_id
        self.result_leaves: dict[int, bytes] = {}  # height -> the encoded result leaves
        self.tx_index: dict[bytes, bytes] = {}  # tx_id -> encoded UsedId (first uses)
        self.receipts = ReceiptCache(self)
        self.height = 0
        self._committed = trio.Event()

    def submit(self, tx: bytes) -> TxAdmission:
        return self.mempool.add(tx, (self.height + 1) * 1000)

    # the durable data receipts are built from (network.receipts.TxIndexSource)
    def last_height(self) -> int:
        return self.height

    def load_block(self, height: int) -> bytes | None:
        committed = self.blocks.get(height)
        return None if committed is None else committed.block

    def load_commit(self, height: int) -> bytes | None:
        committed = self.blocks.get(height)
        return None if committed is None else committed.commit

    def load_results(self, height: int) -> bytes | None:
        return self.result_leaves.get(height)

    def load_tx_index(self, tx_id: bytes) -> bytes | None:
        return self.tx_index.get(tx_id)

    def tx_status(self, tx_id: bytes) -> TxStatus:
        return read_tx_status(self, self.receipts, tx_id, self.mempool.contains)

    def commit(
        self, signers: list[Ed25519Signer] | None = None, *, txs: list[bytes] | None = None
    ) -> CommittedBlock:
        """Commit the mempool's transactions (or `txs`, bypassing the mempool, as a
        Byzantine proposer could) as the next block, certified by `signers`."""
        height = self.height + 1
        if txs is None:
            txs = self.mempool.reap(1 << 20, 1000, height * 1000)
        execution = self.app.execute_block(height, height * 1000, txs)
        prev = self.blocks[height - 1] if height > 1 else None
        block = make_block(
            chain_id=self.genesis.chain_id,
            height=height,
            time_ms=height * 1000,
            prev_block_id=prev.block_id if prev else GENESIS_BLOCK_ID,
            app_hash=execution.app_hash,
            results_root=merkle_root(execution.result_leaves),
            proposer=VALIDATORS[height % 4].public_key,
            txs=txs,
            last_commit=codec.decode_commit(prev.commit) if prev else None,
        )
        bid = block_id(block.header)
        votes = tuple(
            sign_vote(s, self.genesis.chain_id, Vote(VoteType.PRECOMMIT, height, 0, bid, b""))
            for s in sorted(signers or VALIDATORS, key=lambda s: s.public_key)
        )
        commit = Commit(height, 0, bid, votes)
        self.app.apply(execution)
        self.mempool.update(height, height * 1000, [r.tx_id for r in execution.results])
        self.result_leaves[height] = codec.packb(list(execution.result_leaves))
        self.tx_index.update(execution.tx_index)
        for r in execution.results:
            if r.tx_id in execution.tx_index:
                self.results[r.tx_id] = (height, r.index, r.code, r.message)
        committed = CommittedBlock(height, bid, encode_block(block), codec.encode_commit(commit))
        self.blocks[height] = committed
        self.height = height
        self._committed.set()
        self._committed = trio.Event()
        return committed

    async def wait_for_height(self, height: int) -> None:
        while self.height < height:
            await self._committed.wait()


@attrs.define
class FakeNode:
    """One validator's `NodeView` onto a FakeChain (optionally lying through `tamper`)."""

    chain: FakeChain
    tamper: Callable[[CommittedBlock], CommittedBlock] | None = None
    tamper_status: Callable[[TxStatus], TxStatus] | None = None
    swallow: bool = False
    key: bytes = VALIDATORS[0].public_key
    submitted: list[bytes] = attrs.field(factory=list)

    @property
    def chain_id(self) -> str:
        return self.chain.genesis.chain_id

    @property
    def validators(self) -> ValidatorSet:
        return self.chain.genesis.validator_set()

    def submit_tx(self, tx: bytes) -> TxAdmission:
        self.submitted.append(tx)
        if self.swallow:  # "accepted", then lost: the validator died before gossiping it
            return TxAdmission(True, from_wire(tx).tx_id, "OK")
        return self.chain.submit(tx)

    def tx_status(self, tx_id: bytes) -> TxStatus:
        status = self.chain.tx_status(tx_id)
        return status if self.tamper_status is None else self.tamper_status(status)

    def account(self, public_key: bytes) -> AccountSnapshot:
        state = self.chain.app.state
        redemptions = ((k, v) for k, v in sorted(state.items()) if k.startswith(RED))
        return account_snapshot(
            self.chain.app.account(public_key), pending_redemptions(redemptions, public_key)
        )

    def block(self, height: int) -> CommittedBlock | None:
        committed = self.chain.blocks.get(height)
        if committed is not None and self.tamper is not None:
            return self.tamper(committed)
        return committed

    def latest_height(self) -> int:
        return self.chain.height

    def status(self) -> NodeStatus:
        return NodeStatus(
            chain_id=self.chain_id,
            node_key=self.key,
            height=self.chain.height,
            round=0,
            step="propose",
            peers=tuple(s.public_key for s in VALIDATORS[1:]),
            catching_up=False,
            mempool_txs=len(self.chain.mempool),
            mempool_bytes=self.chain.mempool.size_bytes,
        )

    async def wait_for_height(self, height: int) -> None:
        await self.chain.wait_for_height(height)


async def serve_node(nursery: trio.Nursery, node: FakeNode, **kw: object) -> str:
    """Serve `node`'s API on 127.0.0.1 (an OS-chosen port) in `nursery`; its base URL."""
    from network.api import create_app
    from network.api_limits import ApiLimits
    from network.api_server import serve_api

    limits = kw.pop("limits", None)
    app = create_app(node, limits=limits if isinstance(limits, ApiLimits) else ApiLimits(), **kw)  # type: ignore[arg-type]
    port = await nursery.start(serve_api, app, "127.0.0.1", 0)
    return f"http://127.0.0.1:{port}"


def signed(
    signer: Ed25519Signer, body: object, *, until: int = 50_000, nonce: bytes | None = None
) -> bytes:
    """Signed wire bytes of `body` on the fake chain (nonce derived from the body if not given)."""
    from ledger.signing import make_tx

    if nonce is None:
        nonce = hashlib.sha256(repr((signer.public_key, body)).encode()).digest()[:16]
    return make_tx(signer, CHAIN_ID, body, nonce=nonce, valid_until_ms=until)  # type: ignore[arg-type]
