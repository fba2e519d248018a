"""Receipts: a self-contained proof that a transaction committed, and with which outcome.

A receipt holds the committed transaction's bytes, its result leaf (`ledger.results`), their
index in the block, the inclusion path of each in the header's two Merkle trees, the block's
header and the header's commit certificate. Whoever knows the chain id and the validator set
checks it alone, trusting no validator (`verify_receipt`):

1. the commit certificate holds precommits of more than 2/3 of the voting power for this
   header's block id at this height (so the header is final);
2. the transaction bytes are leaf `index` of the header's `txs_root` and the result leaf is
   leaf `index` of its `results_root`, both trees of the header's `num_txs` leaves;
3. the result names the transaction's tx_id, and the transaction is the client's own: exactly
   the bytes it signed (or, when it only knows the id, a transaction with that id);
4. the result is the id's first use: a later use of a committed id (ALREADY_COMMITTED,
   DUPLICATE_TX_ID) commits with no effect, so its receipt proves nothing about the payment.

Its size does not grow with the block: the header, about 2 x log2(num_txs) hashes and one
certificate (about 1.5 KB with four validators). Encoding, canonical msgpack:

    [version=1, tx: bin, result: bin, index: int, tx_path: [bin32], result_path: [bin32],
     header: bin, commit: bin]
"""

from __future__ import annotations

import attrs
import msgpack

from consensus import codec
from consensus.codec import DecodeError
from consensus.commit import CommitError, verify_commit
from consensus.crypto import ED25519, SignatureScheme
from consensus.merkle import MAX_PATH_LENGTH, MerkleTree, verify_inclusion
from consensus.messages import ValidatorSet
from consensus.replica.block import block_id, decode_block, decode_header, encode_header
from ledger.codes import REUSE_CODES
from ledger.results import ResultDecodeError, decode_result
from ledger.tx import SignedTx
from ledger.txcodec import TxDecodeError, decode_tx

RECEIPT_VERSION = 1
MAX_RECEIPT_BYTES = (1 << 20) + 65_536
"""A transaction is at most 1 MiB (the largest genesis `max_tx_bytes`), the rest a few KB."""


class ReceiptError(ValueError):
    """A receipt that proves nothing; the message names the check that failed."""


@attrs.frozen
class Receipt:
    tx: bytes  # the committed transaction's signed bytes
    result: bytes  # its result leaf
    index: int  # its position in the block
    tx_path: tuple[bytes, ...]
    result_path: tuple[bytes, ...]
    header: bytes  # the block's canonical header
    commit: bytes  # the header's commit certificate

    def encode(self) -> bytes:
        return codec.packb(
            [
                RECEIPT_VERSION,
                self.tx,
                self.result,
                self.index,
                list(self.tx_path),
                list(self.result_path),
                self.header,
                self.commit,
            ]
        )


@attrs.frozen
class VerifiedReceipt:
    """What a receipt proved."""

    tx: SignedTx
    tx_id: bytes
    code: str  # the outcome the transaction committed with
    height: int
    index: int
    time_ms: int  # the block's time
    block_id: bytes


def decode_receipt(raw: bytes) -> Receipt:
    """Decode a receipt's bytes (ReceiptError if they are not a receipt)."""
    if type(raw) is not bytes or len(raw) > MAX_RECEIPT_BYTES:
        raise ReceiptError(f"a receipt is bytes of at most {MAX_RECEIPT_BYTES}")
    try:
        value = codec.unpackb_canonical(raw, MAX_RECEIPT_BYTES)
    except DecodeError as exc:
        raise ReceiptError(f"not a receipt: {exc}") from None
    if type(value) is not list or len(value) != 8 or value[0] != RECEIPT_VERSION:
        raise ReceiptError(f"not a version {RECEIPT_VERSION} receipt")
    _, tx, result, index, tx_path, result_path, header, commit = value
    if not all(type(b) is bytes for b in (tx, result, header, commit)):
        raise ReceiptError("tx, result, header and commit must be bytes")
    if type(index) is not int or index < 0:
        raise ReceiptError("index must be a non-negative integer")
    paths = []
    for path in (tx_path, result_path):
        if type(path) is not list or len(path) > MAX_PATH_LENGTH:
            raise ReceiptError(f"a path is a list of at most {MAX_PATH_LENGTH} hashes")
        if not all(type(h) is bytes and len(h) == 32 for h in path):
            raise ReceiptError("a path holds 32-byte hashes")
        paths.append(tuple(path))
    return Receipt(tx, result, index, paths[0], paths[1], header, commit)


def build_receipt(*, block: bytes, results: bytes, commit: bytes, index: int) -> Receipt:
    """The receipt of transaction `index` of a stored block (its bytes, its result leaves as
    saved with it, and its commit certificate). ValueError if they do not fit together."""
    try:
        decoded = decode_block(block, max(len(block), 1))
        leaves = msgpack.unpackb(results, raw=False, use_list=True)
    except (DecodeError, ValueError) as exc:
        raise ValueError(f"stored block or results do not decode: {exc}") from None
    if type(leaves) is not list or len(leaves) != len(decoded.txs):
        raise ValueError("the stored results do not match the block's transactions")
    if not 0 <= index < len(decoded.txs):
        raise ValueError(f"the block holds no transaction {index}")
    return Receipt(
        tx=decoded.txs[index],
        result=leaves[index],
        index=index,
        tx_path=MerkleTree(decoded.txs).path(index),
        result_path=MerkleTree(leaves).path(index),
        header=encode_header(decoded.header),
        commit=commit,
    )


def verify_receipt(
    receipt: Receipt,
    *,
    chain_id: str,
    validators: ValidatorSet,
    scheme: SignatureScheme = ED25519,
    signed: bytes | None = None,
    tx_id: bytes | None = None,
) -> VerifiedReceipt:
    """Check `receipt` alone (see the module docstring) and say what it proves.

    `signed` (the exact bytes the client signed) or `tx_id` names the transaction it must be
    the receipt of; ReceiptError names the first check that failed."""
    if signed is None and tx_id is None:
        raise ValueError("name the transaction: its signed bytes or its tx_id")
    try:
        header = decode_header(receipt.header)
        certificate = codec.decode_commit(receipt.commit)
    except DecodeError as exc:
        raise ReceiptError(f"the header or commit does not decode: {exc}") from None
    if header.chain_id != chain_id:
        raise ReceiptError(f"the header is of chain {header.chain_id!r}, not {chain_id!r}")
    bid = block_id(header)
    try:
        verify_commit(certificate, validators, chain_id, bid, scheme, height=header.height)
    except CommitError as exc:
        raise ReceiptError(f"the commit certificate does not make the block final: {exc}") from None
    size, index = header.num_txs, receipt.index
    if not verify_inclusion(receipt.tx, index, size, receipt.tx_path, header.txs_root):
        raise ReceiptError(f"the transaction is not leaf {index} of the block's txs_root")
    if not verify_inclusion(receipt.result, index, size, receipt.result_path, header.results_root):
        raise ReceiptError(f"the result is not leaf {index} of the block's results_root")
    try:
        tx = decode_tx(receipt.tx).tx
        result = decode_result(receipt.result)
    except (TxDecodeError, ResultDecodeError) as exc:
        raise ReceiptError(f"the committed transaction or result does not decode: {exc}") from None
    if result.tx_id != tx.tx_id:
        raise ReceiptError("the result names another transaction")
    if signed is not None and receipt.tx != signed:
        raise ReceiptError(
            f"the committed transaction with id {tx.tx_id.hex()} is not the one you signed"
        )
    if tx_id is not None and tx.tx_id != tx_id:
        raise ReceiptError(f"the receipt is of tx_id {tx.tx_id.hex()}, not {tx_id.hex()}")
    if result.code in REUSE_CODES:
        raise ReceiptError(
            f"the receipt shows a later use of tx_id {tx.tx_id.hex()} ({result.code}), "
            "not its commit"
        )
    return VerifiedReceipt(
        tx=tx,
        tx_id=tx.tx_id,
        code=result.code,
        height=header.height,
        index=index,
        time_ms=header.time_ms,
        block_id=bid,
    )
