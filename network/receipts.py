"""Receipts served by a validator: built from its durable blocks, cheaply, with a small cache.

Why a cache: a receipt needs both Merkle trees of its block (the transactions' and the
results'), and building them for a 2,000-transaction block costs a few milliseconds of the
event loop the validator also runs consensus on. Clients ask for receipts of the blocks just
committed, often many per block (every transaction of a busy block is someone's payment), so
the trees of the last few blocks are kept: each further receipt from them is only two paths.
The cache is bounded by a number of blocks (`capacity`), so its memory is bounded by
`capacity` x the largest block.

Only durable data is read (`ReceiptSource`: the store's saved block, result leaves and
commit certificate, which a crash cannot take back), and a receipt is built only after
the trees' roots are checked against the stored header: corrupt stored data raises
`StoredDataError` rather than yielding a receipt no client could verify.

The receipts are `ledger.receipt.Receipt`s, equal to what `ledger.receipt.build_receipt`
makes from the same stored bytes (tests check this), so clients verify them with
`ledger.receipt.verify_receipt`.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Protocol

import attrs
import msgpack

from consensus import codec
from consensus.codec import DecodeError
from consensus.merkle import MerkleTree
from consensus.replica.block import Header, block_id, decode_header
from ledger.layout import StateCorruptError
from ledger.receipt import Receipt
from ledger.used_ids import UsedId
from network.nodeview import CommittedTx, TxState, TxStatus

DEFAULT_CAPACITY = 4
"""Blocks whose trees are kept: the few just committed are the ones clients ask about."""


class StoredDataError(Exception):
    """A validator's stored block, results or commit do not fit together (corruption or a
    bug on that validator, never a client's input)."""


class ReceiptSource(Protocol):
    """The durable data receipts are built from (a `consensus.interfaces.Store` has it)."""

    def load_block(self, height: int) -> bytes | None: ...

    def load_results(self, height: int) -> bytes | None: ...

    def load_commit(self, height: int) -> bytes | None: ...


class TxIndexSource(ReceiptSource, Protocol):
    """What `read_tx_status` needs: the receipts' data, the used-id index and the height."""

    def last_height(self) -> int: ...

    def load_tx_index(self, tx_id: bytes) -> bytes | None: ...


def stored_header(block: bytes) -> tuple[Header, bytes]:
    """The header of an encoded block and its canonical bytes, without decoding the
    transactions (a block's first element is its header). DecodeError if malformed."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(block), 1))
    unpacker.feed(block)
    try:
        if unpacker.read_array_header() != 4:
            raise DecodeError("a block is an array of 4")
        raw = codec.packb(unpacker.unpack())
    except (msgpack.OutOfData, ValueError) as exc:
        raise DecodeError(f"block header: {exc}") from None
    header = decode_header(raw)
    return header, raw


@attrs.frozen
class BlockTrees:
    """Everything of one stored block a receipt needs, with both trees built."""

    height: int
    header: Header
    header_bytes: bytes
    commit: bytes
    txs: tuple[bytes, ...]
    results: tuple[bytes, ...]
    tx_tree: MerkleTree
    result_tree: MerkleTree

    def receipt(self, index: int) -> Receipt:
        if not 0 <= index < len(self.txs):
            raise StoredDataError(f"block {self.height} holds no transaction {index}")
        return Receipt(
            tx=self.txs[index],
            result=self.results[index],
            index=index,
            tx_path=self.tx_tree.path(index),
            result_path=self.result_tree.path(index),
            header=self.header_bytes,
            commit=self.commit,
        )


def block_trees(height: int, block: bytes, results: bytes, commit: bytes) -> BlockTrees:
    """Decode one stored height and build its trees; StoredDataError unless the trees'
    roots and sizes are the ones its header commits to."""
    try:
        value = codec.unpackb_canonical(block, max(len(block), 1))
        leaves = msgpack.unpackb(results, raw=False, use_list=True)
        if type(value) is not list or len(value) != 4 or type(value[1]) is not list:
            raise DecodeError("a block is [header, txs, last_commit, evidence]")
        header_bytes = codec.packb(value[0])
        header = decode_header(header_bytes)
    except (DecodeError, ValueError) as exc:
        raise StoredDataError(f"stored block {height} does not decode: {exc}") from None
    txs = value[1]
    if not all(type(tx) is bytes for tx in txs):
        raise StoredDataError(f"stored block {height} holds a transaction that is not bytes")
    if type(leaves) is not list or not all(type(leaf) is bytes for leaf in leaves):
        raise StoredDataError(f"stored results of block {height} are not a list of bytes")
    if header.height != height or not header.num_txs == len(txs) == len(leaves):
        raise StoredDataError(f"stored block {height}: header, transactions and results differ")
    tx_tree, result_tree = MerkleTree(txs), MerkleTree(leaves)
    if tx_tree.root != header.txs_root or result_tree.root != header.results_root:
        raise StoredDataError(f"stored block {height} does not match its header's roots")
    return BlockTrees(
        height, header, header_bytes, commit, tuple(txs), tuple(leaves), tx_tree, result_tree
    )


class ReceiptCache:
    """Receipts of stored transactions, with the trees of the last `capacity` blocks asked
    about kept in memory (least recently used dropped first)."""

    def __init__(self, source: ReceiptSource, capacity: int = DEFAULT_CAPACITY) -> None:
        assert capacity >= 1
        self._source = source
        self._capacity = capacity
        self._trees: collections.OrderedDict[int, BlockTrees] = collections.OrderedDict()
        self.builds = 0  # blocks whose trees were built (tests: the cache is used)

    def __len__(self) -> int:
        return len(self._trees)

    def trees(self, height: int) -> BlockTrees:
        """The trees of stored block `height` (StoredDataError if it is not stored whole)."""
        cached = self._trees.get(height)
        if cached is not None:
            self._trees.move_to_end(height)
            return cached
        block = self._source.load_block(height)
        results = self._source.load_results(height)
        commit = self._source.load_commit(height)
        if block is None or results is None or commit is None:
            raise StoredDataError(f"block {height} is not stored whole")
        trees = block_trees(height, block, results, commit)
        self.builds += 1
        self._trees[height] = trees
        while len(self._trees) > self._capacity:
            self._trees.popitem(last=False)
        return trees

    def receipt(self, height: int, index: int) -> Receipt:
        """The receipt of transaction `index` of stored block `height`."""
        return self.trees(height).receipt(index)


def read_tx_status(
    source: TxIndexSource, cache: ReceiptCache, tx_id: bytes, pending: Callable[[bytes], bool]
) -> TxStatus:
    """A tx_id's status from durable data: its first use with the receipt, else pending (in
    the mempool, `pending(tx_id)`) or unknown. The height is read before the index, so a
    "not committed" answer holds at least up to the height it names."""
    checked = source.last_height()
    raw = source.load_tx_index(tx_id)
    if raw is None:
        state = TxState.PENDING if pending(tx_id) else TxState.UNKNOWN
        return TxStatus(state, checked)
    try:
        used = UsedId.decode(raw)
    except StateCorruptError as exc:
        raise StoredDataError(f"the tx index record of {tx_id.hex()}: {exc}") from None
    trees = cache.trees(used.height)
    committed = CommittedTx(
        tx_id=tx_id,
        height=used.height,
        index=used.index,
        code=used.code,
        message=used.message,
        time_ms=trees.header.time_ms,
        block_id=block_id(trees.header),
        receipt=trees.receipt(used.index).encode(),
    )
    return TxStatus(TxState.COMMITTED, max(checked, used.height), committed)
