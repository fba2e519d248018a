"""Receipts served from a validator's store, as its API would serve them, for many clients.

`ledger.receipt.build_receipt` builds one receipt from a stored block: it decodes the block
and builds both Merkle trees, so serving every transaction of a 500-transaction block costs
500 decodings and 1,000 trees. A validator answering many clients keeps the trees of its
recent blocks instead; this server does, and gives exactly the `Receipt` that
`build_receipt` gives (tests/sim/test_receipts.py compares them for every index). What it
serves proves nothing by itself: clients check each one with `ledger.receipt.verify_receipt`.
"""

from __future__ import annotations

import collections

import attrs
import msgpack

from consensus.interfaces import Store
from consensus.merkle import MerkleTree
from consensus.replica.block import decode_block, encode_header
from ledger.receipt import Receipt
from ledger.used_ids import UsedId

MAX_BLOCK_BYTES = 8_000_000
KEPT_BLOCKS = 16


@attrs.frozen
class _Trees:
    txs: tuple[bytes, ...]
    leaves: tuple[bytes, ...]
    header: bytes
    tx_tree: MerkleTree
    result_tree: MerkleTree


class ReceiptServer:
    """The receipts of committed transactions, from any validator's store."""

    def __init__(self) -> None:
        self._kept: collections.OrderedDict[tuple[int, bytes, bytes], _Trees] = (
            collections.OrderedDict()
        )

    def receipt(self, store: Store, tx_id: bytes) -> Receipt | None:
        """The receipt of `tx_id`'s use, or None if this store holds none (yet).
        ValueError if the store's block and results do not fit together."""
        raw = store.load_tx_index(tx_id)
        if raw is None:
            return None
        used = UsedId.decode(raw)
        block = store.load_block(used.height)
        results = store.load_results(used.height)
        commit = store.load_commit(used.height)
        if block is None or results is None or commit is None:
            return None
        trees = self._trees(used.height, block, results)
        if not 0 <= used.index < len(trees.txs):
            raise ValueError(f"the block holds no transaction {used.index}")
        return Receipt(
            tx=trees.txs[used.index],
            result=trees.leaves[used.index],
            index=used.index,
            tx_path=trees.tx_tree.path(used.index),
            result_path=trees.result_tree.path(used.index),
            header=trees.header,
            commit=commit,
        )

    def _trees(self, height: int, block: bytes, results: bytes) -> _Trees:
        key = (height, block, results)
        trees = self._kept.get(key)
        if trees is not None:
            self._kept.move_to_end(key)
            return trees
        try:
            decoded = decode_block(block, MAX_BLOCK_BYTES)
            leaves = msgpack.unpackb(results, raw=False, use_list=True)
        except Exception as exc:
            raise ValueError(f"stored block or results do not decode: {exc}") from None
        if type(leaves) is not list or len(leaves) != len(decoded.txs):
            raise ValueError("the stored results do not match the block's transactions")
        trees = _Trees(
            txs=decoded.txs,
            leaves=tuple(leaves),
            header=encode_header(decoded.header),
            tx_tree=MerkleTree(decoded.txs),
            result_tree=MerkleTree(leaves),
        )
        self._kept[key] = trees
        if len(self._kept) > KEPT_BLOCKS:
            self._kept.popitem(last=False)
        return trees
