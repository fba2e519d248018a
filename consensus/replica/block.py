"""Blocks: the values consensus decides on, and their one canonical encoding.

A block is a header plus its body (transactions, the commit certificate of the previous block,
evidence of equivocation). The header binds the body through hashes, so `block_id(header)`, the
32-byte value the validators vote for, identifies the whole block. Blocks are executed before
they are voted on, so the header also commits to what the block did: `app_hash` is the state
*after* the block and `results_root` the RFC 6962 root of its transactions' results, beside
`txs_root` over the transactions themselves (`consensus.merkle`), both trees of `num_txs`
leaves. A header and its commit certificate therefore prove, with two short Merkle paths, that
a transaction committed and what its outcome was. The previous commit and the
evidence are embedded with the core's codec (`consensus.codec` `*_to_obj`); a block is canonical
msgpack, and decoding rejects anything that would not re-encode to the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import attrs

from consensus import codec
from consensus.codec import DecodeError
from consensus.merkle import merkle_root
from consensus.messages import (
    BLOCK_ID_SIZE,
    PUBLIC_KEY_SIZE,
    BlockId,
    Commit,
    DuplicateVoteEvidence,
)

BLOCK_VERSION = 2
MAX_HEADER_BYTES = 1024
GENESIS_BLOCK_ID = bytes(BLOCK_ID_SIZE)
"""The `prev_block_id` of block 1."""
_EMPTY_HASH = hashlib.sha256(b"").digest()


@attrs.frozen
class Header:
    chain_id: str
    height: int
    time_ms: int
    prev_block_id: BlockId
    app_hash: bytes  # the application state digest after this block
    proposer: bytes
    num_txs: int  # the size of both Merkle trees (a root alone does not fix it)
    txs_root: bytes  # RFC 6962 root over the transactions' bytes
    results_root: bytes  # RFC 6962 root over the application's encoding of each result
    last_commit_hash: bytes
    evidence_hash: bytes


@attrs.frozen
class Block:
    header: Header
    txs: tuple[bytes, ...]
    last_commit: Commit | None  # None only at height 1
    evidence: tuple[DuplicateVoteEvidence, ...] = ()


def _digest(tag: bytes, parts: Sequence[bytes]) -> bytes:
    h = hashlib.sha256(tag)
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.digest()


def tx_hash(tx: bytes) -> bytes:
    """The replica's cheap identity of a transaction's bytes (for gossip dedupe)."""
    return hashlib.sha256(tx).digest()


def txs_root(txs: Sequence[bytes]) -> bytes:
    """The RFC 6962 root over `txs`, in order."""
    return merkle_root(txs)


def last_commit_hash(commit: Commit | None) -> bytes:
    return _EMPTY_HASH if commit is None else hashlib.sha256(codec.encode_commit(commit)).digest()


def evidence_hash(evidence: Sequence[DuplicateVoteEvidence]) -> bytes:
    return _digest(b"depositnet/evidence", [codec.encode_evidence(e) for e in evidence])


def make_block(
    *,
    chain_id: str,
    height: int,
    time_ms: int,
    prev_block_id: BlockId,
    app_hash: bytes,
    results_root: bytes,
    proposer: bytes,
    txs: Sequence[bytes],
    last_commit: Commit | None,
    evidence: Sequence[DuplicateVoteEvidence] = (),
) -> Block:
    """A block whose header commits to the given body and to its execution's outcome
    (`app_hash` after it, `results_root` over its results)."""
    header = Header(
        chain_id=chain_id,
        height=height,
        time_ms=time_ms,
        prev_block_id=prev_block_id,
        app_hash=app_hash,
        proposer=proposer,
        num_txs=len(txs),
        txs_root=txs_root(txs),
        results_root=results_root,
        last_commit_hash=last_commit_hash(last_commit),
        evidence_hash=evidence_hash(evidence),
    )
    return Block(header, tuple(txs), last_commit, tuple(evidence))


def _header_obj(h: Header) -> list[Any]:
    return [
        BLOCK_VERSION,
        h.chain_id,
        h.height,
        h.time_ms,
        h.prev_block_id,
        h.app_hash,
        h.proposer,
        h.num_txs,
        h.txs_root,
        h.results_root,
        h.last_commit_hash,
        h.evidence_hash,
    ]


def encode_header(header: Header) -> bytes:
    return codec.packb(_header_obj(header))


_IDS_MAX = 1024
_ids: dict[int, tuple[Header, BlockId]] = {}
"""Block ids of recent headers, by the header object's identity (each entry keeps its header
alive, so an id() is never reused while cached): a replica asks for the id of one header
many times per height (on arrival, judging, executing, committing)."""


def block_id(header: Header) -> BlockId:
    """sha256 of the canonical header bytes: what validators vote for."""
    found = _ids.get(id(header))
    if found is not None and found[0] is header:
        return found[1]
    bid = hashlib.sha256(b"depositnet/block" + encode_header(header)).digest()
    if len(_ids) >= _IDS_MAX:
        _ids.clear()
    _ids[id(header)] = (header, bid)
    return bid


def encode_block(block: Block) -> bytes:
    commit = None if block.last_commit is None else codec.commit_to_obj(block.last_commit)
    return codec.packb(
        [
            _header_obj(block.header),
            list(block.txs),
            commit,
            [codec.evidence_to_obj(e) for e in block.evidence],
        ]
    )


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**63:
        raise DecodeError(f"{what}: expected a non-negative int64")
    return value


def _bytes(value: object, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what}: expected bytes")
    if size is not None and len(value) != size:
        raise DecodeError(f"{what}: expected {size} bytes, got {len(value)}")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise DecodeError(f"{what}: expected an array")
    return value


HEADER_FIELDS = 12


def decode_header(data: bytes) -> Header:
    """Decode canonical header bytes (`encode_header`), e.g. from a receipt."""
    return _decode_header(codec.unpackb_canonical(data, MAX_HEADER_BYTES))


def _decode_header(obj: object) -> Header:
    fields = _list(obj, "header")
    if len(fields) != HEADER_FIELDS:
        raise DecodeError(f"header: expected {HEADER_FIELDS} fields")
    if fields[0] != BLOCK_VERSION or isinstance(fields[0], bool):
        raise DecodeError(f"header: unknown block version {fields[0]!r}")
    if not isinstance(fields[1], str):
        raise DecodeError("header: chain id must be a string")
    height = _int(fields[2], "header height")
    if height < 1:
        raise DecodeError("header: height must be >= 1")
    return Header(
        chain_id=fields[1],
        height=height,
        time_ms=_int(fields[3], "header time"),
        prev_block_id=_bytes(fields[4], "prev block id", BLOCK_ID_SIZE),
        app_hash=_bytes(fields[5], "app hash"),
        proposer=_bytes(fields[6], "proposer", PUBLIC_KEY_SIZE),
        num_txs=_int(fields[7], "header num_txs"),
        txs_root=_bytes(fields[8], "txs root", 32),
        results_root=_bytes(fields[9], "results root", 32),
        last_commit_hash=_bytes(fields[10], "last commit hash", 32),
        evidence_hash=_bytes(fields[11], "evidence hash", 32),
    )


def decode_block(data: bytes, max_size: int) -> Block:
    """Decode and check self-consistency (hashes in the header match the body).

    Raises DecodeError on anything malformed, non-canonical, larger than `max_size` or whose
    header does not commit to its body. Validity against the chain is checked elsewhere.
    """
    obj = codec.unpackb_canonical(data, max_size)
    fields = _list(obj, "block")
    if len(fields) != 4:
        raise DecodeError("block: expected 4 fields")
    header = _decode_header(fields[0])
    txs = tuple(_bytes(tx, "transaction") for tx in _list(fields[1], "transactions"))
    commit = None if fields[2] is None else codec.commit_from_obj(fields[2])
    evidence = tuple(codec.evidence_from_obj(e) for e in _list(fields[3], "evidence list"))
    block = Block(header, txs, commit, evidence)
    if header.num_txs != len(txs):
        raise DecodeError("block: the header's num_txs does not match the transactions")
    if header.txs_root != txs_root(txs):
        raise DecodeError("block: transactions do not match the header's root")
    if header.last_commit_hash != last_commit_hash(commit):
        raise DecodeError("block: last commit does not match the header")
    if header.evidence_hash != evidence_hash(evidence):
        raise DecodeError("block: evidence does not match the header")
    return block
