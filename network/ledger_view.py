"""`NodeView` for a running validator: what the client API may read and submit.

Reads come from the ledger's in-memory committed state and from the store's committed blocks
(receipts only from what the store holds durably, through a small cache of recent blocks'
Merkle trees); submission goes through the node's single event path, so the API never touches
consensus state directly and never waits on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from consensus import codec
from consensus.interfaces import Store, TxAdmission
from consensus.messages import ValidatorSet
from ledger import layout as L
from ledger.app import LedgerApp
from ledger.mempool import Mempool
from ledger.queries import pending_redemptions
from network.nodeview import (
    AccountSnapshot,
    CommittedBlock,
    NodeStatus,
    TxStatus,
    account_snapshot,
)
from network.receipts import ReceiptCache, read_tx_status

if TYPE_CHECKING:
    from network.node import ValidatorNode


class LedgerNodeView:
    """Implements `network.nodeview.NodeView` over one node's app, mempool and store."""

    def __init__(self, node: ValidatorNode, app: LedgerApp, mempool: Mempool, store: Store) -> None:
        self._node = node
        self.app = app
        self.mempool = mempool
        self.store = store
        self.receipts = ReceiptCache(store)
        self._committed = trio.Event()

    @property
    def chain_id(self) -> str:
        return self._node.genesis.chain_id

    @property
    def validators(self) -> ValidatorSet:
        return self._node.validators

    def submit_tx(self, tx: bytes) -> TxAdmission:
        return self._node.submit(tx)

    def tx_status(self, tx_id: bytes) -> TxStatus:
        return read_tx_status(self.store, self.receipts, tx_id, self.mempool.contains)

    def account(self, public_key: bytes) -> AccountSnapshot:
        redemptions = self.store.iter_state(L.RED)
        return account_snapshot(
            self.app.account(public_key), pending_redemptions(redemptions, public_key)
        )

    def block(self, height: int) -> CommittedBlock | None:
        if not 1 <= height <= self.store.last_height():
            return None
        raw_block = self.store.load_block(height)
        raw_commit = self.store.load_commit(height)
        if raw_block is None or raw_commit is None:
            return None
        # The commit stored with the block certifies its id: no need to decode (and hash) the
        # block's transactions just to name it.
        return CommittedBlock(
            height, codec.decode_commit(raw_commit).block_id, raw_block, raw_commit
        )

    def latest_height(self) -> int:
        return self.store.last_height()

    def status(self) -> NodeStatus:
        replica = self._node.replica.status()
        return NodeStatus(
            chain_id=self.chain_id,
            node_key=self._node.node_key.public_key,
            height=self.store.last_height(),  # durable, not merely decided: see the executor
            round=replica.round,
            step=replica.step.name.lower(),
            peers=self._node.connected_peers(),
            catching_up=replica.catching_up,
            mempool_txs=len(self.mempool),
            mempool_bytes=self.mempool.size_bytes,
        )

    async def wait_for_height(self, height: int) -> None:
        while self.store.last_height() < height:
            await self._committed.wait()

    def height_committed(self, height: int) -> None:
        """Called by the node after each durable commit: wakes the waiters."""
        self._committed.set()
        self._committed = trio.Event()
