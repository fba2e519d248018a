"""Turning the node's committed data (encoded blocks, commits, transactions) into JSON.

The node hands the API bytes exactly as stored; this module decodes them with the same codecs
the validators use and renders plain dicts matching `network.api_models`. The raw bytes travel
along (`raw_block`, `raw_commit`, `raw_header`, a transaction's `receipt`) because a client
must not trust the JSON: the SDK re-decodes the raw bytes and checks them itself.
`raw_block_msgpack` is the cheap form for high-volume readers: the stored bytes in one msgpack
map, nothing decoded.
"""

from __future__ import annotations

from typing import Any

import attrs

from consensus import codec
from consensus.messages import Commit, ValidatorSet
from consensus.replica.block import Block, Header, block_id, decode_block
from ledger.txcodec import TxDecodeError, decode_tx
from network.api_params import ApiError
from network.nodeview import (
    AccountSnapshot,
    CommittedBlock,
    CommittedTx,
    NodeStatus,
    NodeView,
    TxStatus,
)
from network.receipts import stored_header


class RenderError(Exception):
    """Stored data that does not decode: a bug or corruption on this node, never client input."""


def hexify(value: object) -> object:
    """`value` with bytes turned into hex, recursively (for tx bodies and similar values)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [hexify(v) for v in value]
    if isinstance(value, dict):
        return {str(k): hexify(v) for k, v in value.items()}
    return value


def header_json(h: Header) -> dict[str, Any]:
    return {
        "chain_id": h.chain_id,
        "height": h.height,
        "time_ms": h.time_ms,
        "prev_block_id": h.prev_block_id.hex(),
        "app_hash": h.app_hash.hex(),
        "proposer": h.proposer.hex(),
        "num_txs": h.num_txs,
        "txs_root": h.txs_root.hex(),
        "results_root": h.results_root.hex(),
        "last_commit_hash": h.last_commit_hash.hex(),
        "evidence_hash": h.evidence_hash.hex(),
    }


def commit_json(c: Commit) -> dict[str, Any]:
    return {
        "height": c.height,
        "round": c.round,
        "block_id": c.block_id.hex(),
        "precommits": [
            {"validator": v.validator.hex(), "signature": v.signature.hex()} for v in c.precommits
        ],
    }


def tx_json(tx: bytes) -> dict[str, Any]:
    """A transaction's fields; `None`s (and the raw hex) if its bytes do not decode."""
    try:
        signed = decode_tx(tx).tx
    except TxDecodeError:
        return {
            "tx_id": None,
            "kind": None,
            "signer": None,
            "valid_until_ms": None,
            "body": None,
            "raw": tx.hex(),
        }
    body = hexify(attrs.asdict(signed.body, recurse=False))
    assert isinstance(body, dict)
    return {
        "tx_id": signed.tx_id.hex(),
        "kind": signed.kind.name,
        "signer": signed.signer.hex(),
        "valid_until_ms": signed.valid_until_ms,
        "body": body,
        "raw": tx.hex(),
    }


def decode_committed(cb: CommittedBlock) -> tuple[Block, Commit]:
    """The block and commit the node stored, decoded; RenderError if they do not decode."""
    try:
        block = decode_block(cb.block, max_size=max(len(cb.block), 1))
        commit = codec.decode_commit(cb.commit)
    except codec.DecodeError as exc:
        raise RenderError(f"stored block {cb.height} does not decode: {exc}") from None
    return block, commit


def block_json(cb: CommittedBlock) -> dict[str, Any]:
    block, commit = decode_committed(cb)
    return {
        "height": cb.height,
        "block_id": block_id(block.header).hex(),
        "header": header_json(block.header),
        "tx_count": len(block.txs),
        "txs": [tx_json(tx) for tx in block.txs],
        "last_commit": None if block.last_commit is None else commit_json(block.last_commit),
        "evidence_count": len(block.evidence),
        "commit": commit_json(commit),
        "raw_block": cb.block.hex(),
        "raw_commit": cb.commit.hex(),
    }


def committed_json(c: CommittedTx) -> dict[str, Any]:
    return {
        "tx_id": c.tx_id.hex(),
        "height": c.height,
        "index": c.index,
        "code": c.code,
        "message": c.message,
        "block_time_ms": c.time_ms,
        "block_id": c.block_id.hex(),
        "receipt": c.receipt.hex(),
    }


def tx_status_json(tx_id: bytes, status: TxStatus) -> dict[str, Any]:
    return {
        "tx_id": tx_id.hex(),
        "state": status.state.value,
        "checked_height": status.checked_height,
        "committed": None if status.committed is None else committed_json(status.committed),
    }


def account_json(a: AccountSnapshot, height: int) -> dict[str, Any]:
    return {
        "public_key": a.public_key.hex(),
        "height": height,
        "registered": a.registered,
        "name": a.name,
        "frozen": a.frozen,
        "kyc_expiry_height": a.kyc_expiry_height,
        "balances": dict(sorted(a.balances.items())),
        "pending_redemptions": dict(sorted(a.pending_redemptions.items())),
    }


def validators_json(chain_id: str, vs: ValidatorSet) -> dict[str, Any]:
    return {
        "chain_id": chain_id,
        "total_power": vs.total_power,
        "validators": [
            {"public_key": v.public_key.hex(), "power": v.power, "name": v.name}
            for v in vs.validators
        ],
    }


def status_json(s: NodeStatus, vs: ValidatorSet) -> dict[str, Any]:
    return {
        "chain_id": s.chain_id,
        "node_key": s.node_key.hex(),
        "height": s.height,
        "round": s.round,
        "step": s.step,
        "peers": [p.hex() for p in s.peers],
        "catching_up": s.catching_up,
        "mempool_txs": s.mempool_txs,
        "mempool_bytes": s.mempool_bytes,
        "validators": validators_json(s.chain_id, vs),
    }


def tx_status_body(node: NodeView, tx_id: bytes) -> dict[str, Any]:
    """The `GET /txs/{id}` body: the status, and the receipt when committed."""
    return tx_status_json(tx_id, node.tx_status(tx_id))


def first_use_json(node: NodeView, tx_id: bytes | None) -> dict[str, Any] | None:
    """For a submission refused as a later use of `tx_id`: the id's committed transaction
    with its receipt, or None if this validator holds no durable commit of it yet."""
    if tx_id is None:
        return None
    committed = node.tx_status(tx_id).committed
    return None if committed is None else committed_json(committed)


def committed_block(node: NodeView, height: int) -> CommittedBlock:
    """The block the node stored at `height`, or a 404 ApiError."""
    committed = node.block(height) if height >= 1 else None
    if committed is None:
        raise ApiError(404, "NOT_FOUND", f"no committed block at height {height}")
    return committed


def block_body(node: NodeView, height: int) -> dict[str, Any]:
    """The `GET /blocks/{h}` body, or a 404 ApiError."""
    return block_json(committed_block(node, height))


def header_body(node: NodeView, height: int) -> dict[str, Any]:
    """The `GET /blocks/{h}/header` body: the header and its certificate, read without
    decoding the block's transactions (light clients take their chain time from it)."""
    cb = committed_block(node, height)
    try:
        header, raw_header = stored_header(cb.block)
        commit = codec.decode_commit(cb.commit)
    except codec.DecodeError as exc:
        raise RenderError(f"stored block {height} does not decode: {exc}") from None
    return {
        "height": height,
        "block_id": block_id(header).hex(),
        "header": header_json(header),
        "commit": commit_json(commit),
        "raw_header": raw_header.hex(),
        "raw_commit": cb.commit.hex(),
    }


def raw_block_msgpack(cb: CommittedBlock) -> bytes:
    """The `GET /blocks/{h}/raw` body: the canonical msgpack map (keys sorted)
    `{"block": bin, "block_id": bin, "commit": bin, "height": int}` holding the stored bytes
    as they are (`block` and `commit` are exactly `raw_block` and `raw_commit` of the JSON
    form). Nothing is decoded, so a block of any size costs one copy."""
    return codec.packb(
        {"block": cb.block, "block_id": cb.block_id, "commit": cb.commit, "height": cb.height}
    )
