"""What the SDK checks itself, trusting no validator: receipts, headers and raw blocks.

A validator's JSON is a claim; the bytes beside it (`receipt`, `raw_header` + `raw_commit`,
`raw_block` + `raw_commit`) are checked here against the GENESIS the client was given:

- `check_receipt` turns a served receipt into a `FinalReceipt` only if
  `ledger.receipt.verify_receipt(signed=...)` accepts it: certified by more than 2/3 of the
  power, both Merkle inclusions, the committed bytes exactly the ones the client signed, and
  the id's first use. A receipt that verifies for the tx_id but holds other bytes is
  conclusive (`TxIdUsed`: only the signer's key makes transactions with that id, and a
  certified first use of the id by other bytes means this transaction can never commit);
  anything else that fails is a lie (`ReceiptError`).
- `verify_header_body` checks a `GET /blocks/{h}/header` answer (chain time comes from it).
- `verify_raw_block` checks a stored block and its certificate (`GET /blocks/{h}/raw`).
- `precheck` refuses, before sending, bytes no validator could accept (undecodable, wrong
  chain, too large, bad signature), so a validator's refusal is never needed to learn that.

The readable fields a validator sends beside a receipt (height, code, message...) are never
trusted: a `FinalReceipt` takes them from the receipt, except `message`, the ledger's wording,
which is in no root and shown as the validator said it.
"""

from __future__ import annotations

import attrs

from consensus import codec
from consensus.commit import CommitError, commit_power, verify_commit
from consensus.crypto import ED25519
from consensus.messages import Commit
from consensus.replica.block import Block, Header, block_id, decode_block, decode_header
from ledger.genesis import Genesis
from ledger.receipt import Receipt, ReceiptError, VerifiedReceipt, decode_receipt, verify_receipt
from ledger.txcodec import DecodedTx, TxDecodeError, from_wire
from ledger.validation import StaticRejection, VerifiedTxCache
from network.client_errors import ClientError, FinalityError, TxIdUsed

MAX_BLOCK_BYTES = 64 << 20
"""The largest block the SDK will decode from a validator's answer."""


@attrs.frozen
class FinalReceipt:
    """A transaction proven final, with its outcome, by a receipt this client verified."""

    receipt: Receipt  # `receipt.encode()` is what to keep: anyone can check it offline
    proved: VerifiedReceipt
    certified_power: int  # voting power of the certificate's signers
    total_power: int
    message: str = ""  # the serving validator's wording of the outcome (in no root)
    node_url: str = ""

    @property
    def tx_id(self) -> bytes:
        return self.proved.tx_id

    @property
    def code(self) -> str:
        return self.proved.code

    @property
    def height(self) -> int:
        return self.proved.height

    @property
    def index(self) -> int:
        return self.proved.index

    @property
    def time_ms(self) -> int:
        return self.proved.time_ms

    @property
    def block_id(self) -> bytes:
        return self.proved.block_id


def _final(
    genesis: Genesis, receipt: Receipt, proved: VerifiedReceipt, message: str, node_url: str
) -> FinalReceipt:
    validators = genesis.validator_set()
    power = commit_power(codec.decode_commit(receipt.commit), validators)
    return FinalReceipt(receipt, proved, power, validators.total_power, message, node_url)


def check_receipt(
    genesis: Genesis, raw: bytes, *, signed: bytes, message: str = "", node_url: str = ""
) -> FinalReceipt:
    """The receipt `raw` of the transaction `signed`, verified (see the module docstring);
    ReceiptError if it proves nothing about it, TxIdUsed if it proves another transaction
    took its id."""
    receipt = decode_receipt(raw)
    chain_id, validators = genesis.chain_id, genesis.validator_set()
    try:
        proved = verify_receipt(receipt, chain_id=chain_id, validators=validators, signed=signed)
    except ReceiptError as not_ours:
        try:
            tx_id = from_wire(signed).tx_id
        except TxDecodeError:
            raise not_ours from None
        # Judged again by the id alone: the reason names what is wrong with it for this id
        # (another id, a later use...), and if nothing is, another transaction took the id.
        other = verify_receipt(receipt, chain_id=chain_id, validators=validators, tx_id=tx_id)
        raise TxIdUsed(_final(genesis, receipt, other, message, node_url)) from None
    return _final(genesis, receipt, proved, message, node_url)


def verify_saved_receipt(genesis: Genesis, raw: bytes) -> FinalReceipt:
    """A receipt kept in a file, checked offline against `genesis` for the transaction it
    holds (ReceiptError if it proves nothing)."""
    receipt = decode_receipt(raw)
    return check_receipt(genesis, raw, signed=receipt.tx)


def precheck(genesis: Genesis, signed: bytes) -> DecodedTx:
    """The decoded transaction if every validator of `genesis`'s chain could admit these
    bytes as far as they alone decide (decoding, chain, size, fields, signature); a
    ClientError naming the problem otherwise."""
    checker = VerifiedTxCache(ED25519, genesis.chain_id, genesis.limits, capacity=1)
    try:
        return checker.check(signed)
    except StaticRejection as exc:
        why = f"{exc.code.value}: {exc.message}"
        raise ClientError(f"the transaction cannot commit: {why}") from None


@attrs.frozen
class VerifiedHeader:
    """A block header whose commit certificate this client verified."""

    header: Header
    block_id: bytes
    commit: Commit
    node_url: str = ""


def _hex(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise FinalityError(f"{what} is missing")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise FinalityError(f"{what} is not hex") from None


def verify_header_body(genesis: Genesis, body: object, node_url: str = "") -> VerifiedHeader:
    """Check a `GET /blocks/{h}/header` answer: the header is of this chain and more than 2/3
    of the genesis validators' power precommitted it; FinalityError saying why not."""
    if not isinstance(body, dict):
        raise FinalityError("a header answer is a JSON object")
    raw_header = _hex(body.get("raw_header"), "raw_header")
    raw_commit = _hex(body.get("raw_commit"), "raw_commit")
    try:
        header = decode_header(raw_header)
        commit = codec.decode_commit(raw_commit)
    except codec.DecodeError as exc:
        raise FinalityError(f"the header or its commit does not decode: {exc}") from None
    bid = _check_certified(genesis, header, commit, header.height)
    return VerifiedHeader(header, bid, commit, node_url)


def _check_certified(genesis: Genesis, header: Header, commit: Commit, height: int) -> bytes:
    if header.chain_id != genesis.chain_id:
        raise FinalityError(f"the block is for chain {header.chain_id!r}")
    if header.height != height:
        raise FinalityError(f"the block is at height {header.height}, not {height}")
    bid = block_id(header)
    try:
        verify_commit(commit, genesis.validator_set(), genesis.chain_id, bid, height=height)
    except CommitError as exc:
        raise FinalityError(f"the commit certificate does not verify: {exc}") from None
    return bid


@attrs.frozen
class RawBlock:
    """A committed block as a validator stores it (`GET /blocks/{h}/raw`), not yet verified:
    `block` and `commit` are the encoded block and commit certificate, `block_id` is what the
    validator claims (`verify_raw_block` recomputes and checks everything)."""

    height: int
    block_id: bytes
    block: bytes
    commit: bytes
    node_url: str = ""


def parse_raw_block(data: bytes, node_url: str = "") -> RawBlock:
    """A `GET /blocks/{h}/raw` body (a canonical msgpack map); codec.DecodeError if not one."""
    obj = codec.unpackb_canonical(data, MAX_BLOCK_BYTES + (1 << 20))
    if not isinstance(obj, dict) or sorted(obj) != ["block", "block_id", "commit", "height"]:
        raise codec.DecodeError("expected a map of block, block_id, commit and height")
    height, bid, block, commit = obj["height"], obj["block_id"], obj["block"], obj["commit"]
    if type(height) is not int or not all(type(b) is bytes for b in (bid, block, commit)):
        raise codec.DecodeError("height must be an integer; block_id, block and commit bin")
    return RawBlock(height, bid, block, commit, node_url)


def verify_raw_block(
    genesis: Genesis, raw_block: bytes, raw_commit: bytes, height: int
) -> tuple[Block, Commit, bytes]:
    """(block, commit, block id) if `raw_block` decodes, is block `height` of the genesis's
    chain, and `raw_commit` is a certificate for it from more than 2/3 of the genesis
    validators' power; FinalityError saying why not otherwise. Transactions stay raw bytes."""
    try:
        block: Block = decode_block(raw_block, MAX_BLOCK_BYTES)
        commit = codec.decode_commit(raw_commit)
    except codec.DecodeError as exc:
        raise FinalityError(f"the block does not decode: {exc}") from None
    bid = _check_certified(genesis, block.header, commit, height)
    return block, commit, bid
