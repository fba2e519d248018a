"""Replica wire messages and their canonical codec.

Every message is one canonical msgpack array `[kind, field...]`; consensus values inside
(proposals, votes, evidence) are embedded with the core's codec (`*_to_obj`), so a single
encoding exists for each. Blocks and commits travel as bytes: they are hashed and stored as
is. `decode_wire` is the one entry point for peer bytes:
anything malformed, non-canonical or larger than the cap raises `DecodeError`, nothing else.
`message_kind` reads only the first two bytes, for cheap filtering in drivers and simulators.
"""

from __future__ import annotations

from typing import Any

import attrs

from consensus import codec
from consensus.codec import DecodeError
from consensus.messages import DuplicateVoteEvidence, Proposal, Step, Vote

MAX_WIRE_BYTES = 8_000_000
"""Hard cap on one message, whatever the configuration says."""
MAX_BITMAP_BYTES = 32  # up to 256 validators
MAX_GET_BLOCKS = 64


@attrs.frozen
class ProposalMsg:
    """A signed proposal with the full block it names."""

    proposal: Proposal
    block: bytes  # encoded block; its id must equal proposal.block_id


@attrs.frozen
class VoteMsg:
    vote: Vote


@attrs.frozen
class StatusMsg:
    """What the sender is doing and holds for its current (height, round)."""

    height: int
    round: int
    step: Step
    last_committed: int
    has_proposal: bool
    prevotes: bytes  # bitmap by validator index (sorted set), bit i = byte i//8, 1 << (i%8)
    precommits: bytes


@attrs.frozen
class GetRound:
    """Send me the proposal and all votes you hold for (height, round)."""

    height: int
    round: int


@attrs.frozen
class GetBlocks:
    """Send me committed blocks `start .. start+count-1` with their commits."""

    start: int
    count: int


@attrs.frozen
class CommittedBlock:
    block: bytes  # encoded block
    commit: bytes  # encoded commit certificate for that block


@attrs.frozen
class TxsMsg:
    txs: tuple[bytes, ...]


@attrs.frozen
class EvidenceMsg:
    evidence: DuplicateVoteEvidence


WireMessage = (
    ProposalMsg | VoteMsg | StatusMsg | GetRound | GetBlocks | CommittedBlock | TxsMsg | EvidenceMsg
)

_KINDS: dict[type, int] = {
    ProposalMsg: 1,
    VoteMsg: 2,
    StatusMsg: 3,
    GetRound: 4,
    GetBlocks: 5,
    CommittedBlock: 6,
    TxsMsg: 7,
    EvidenceMsg: 8,
}
KIND_NAMES: dict[int, str] = {
    1: "proposal",
    2: "vote",
    3: "status",
    4: "get_round",
    5: "get_blocks",
    6: "committed_block",
    7: "txs",
    8: "evidence",
}


def message_kind(payload: bytes) -> str | None:
    """The kind name of an encoded message from its first two bytes; None if unrecognisable."""
    if len(payload) < 2 or not 0x91 <= payload[0] <= 0x9F:
        return None
    return KIND_NAMES.get(payload[1])


def encode_wire(msg: WireMessage) -> bytes:
    kind = _KINDS[type(msg)]
    fields: list[Any]
    if isinstance(msg, ProposalMsg):
        fields = [codec.proposal_to_obj(msg.proposal), msg.block]
    elif isinstance(msg, VoteMsg):
        fields = [codec.vote_to_obj(msg.vote)]
    elif isinstance(msg, StatusMsg):
        fields = [
            msg.height,
            msg.round,
            int(msg.step),
            msg.last_committed,
            msg.has_proposal,
            msg.prevotes,
            msg.precommits,
        ]
    elif isinstance(msg, GetRound):
        fields = [msg.height, msg.round]
    elif isinstance(msg, GetBlocks):
        fields = [msg.start, msg.count]
    elif isinstance(msg, CommittedBlock):
        fields = [msg.block, msg.commit]
    elif isinstance(msg, TxsMsg):
        fields = [list(msg.txs)]
    else:
        fields = [codec.evidence_to_obj(msg.evidence)]
    return codec.packb([kind, *fields])


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise DecodeError(f"{what}: expected a non-negative int64")
    return value


def _bytes(value: object, what: str, max_len: int = MAX_WIRE_BYTES) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what}: expected bytes")
    if len(value) > max_len:
        raise DecodeError(f"{what}: longer than {max_len} bytes")
    return value


def _arity(fields: list[Any], n: int, what: str) -> None:
    if len(fields) != n:
        raise DecodeError(f"{what}: expected {n} fields, got {len(fields)}")


def decode_wire(payload: bytes, max_size: int = MAX_WIRE_BYTES) -> WireMessage:
    """Decode one peer message; raises DecodeError (only) on any malformed input."""
    if not isinstance(payload, bytes):
        raise DecodeError("payload must be bytes")
    obj = codec.unpackb_canonical(payload, min(max_size, MAX_WIRE_BYTES))
    if not isinstance(obj, list) or not obj:
        raise DecodeError("message: expected a non-empty array")
    kind, fields = obj[0], obj[1:]
    name = KIND_NAMES.get(kind) if isinstance(kind, int) and not isinstance(kind, bool) else None
    if name is None:
        raise DecodeError(f"message: unknown kind {kind!r}")
    if name == "proposal":
        _arity(fields, 2, name)
        proposal = codec.proposal_from_obj(fields[0])
        return ProposalMsg(proposal, _bytes(fields[1], "block"))
    if name == "vote":
        _arity(fields, 1, name)
        return VoteMsg(codec.vote_from_obj(fields[0]))
    if name == "status":
        _arity(fields, 7, name)
        step = _int(fields[2], "status step")
        if step not in (0, 1, 2):
            raise DecodeError(f"status: unknown step {step}")
        if not isinstance(fields[4], bool):
            raise DecodeError("status: has_proposal must be a bool")
        return StatusMsg(
            height=_int(fields[0], "status height"),
            round=_int(fields[1], "status round"),
            step=Step(step),
            last_committed=_int(fields[3], "status last committed"),
            has_proposal=fields[4],
            prevotes=_bytes(fields[5], "prevote bitmap", MAX_BITMAP_BYTES),
            precommits=_bytes(fields[6], "precommit bitmap", MAX_BITMAP_BYTES),
        )
    if name == "get_round":
        _arity(fields, 2, name)
        return GetRound(_int(fields[0], "height"), _int(fields[1], "round"))
    if name == "get_blocks":
        _arity(fields, 2, name)
        start, count = _int(fields[0], "start"), _int(fields[1], "count")
        if start < 1 or not 1 <= count <= MAX_GET_BLOCKS:
            raise DecodeError("get_blocks: start >= 1 and 1 <= count <= 64 required")
        return GetBlocks(start, count)
    if name == "committed_block":
        _arity(fields, 2, name)
        return CommittedBlock(_bytes(fields[0], "block"), _bytes(fields[1], "commit"))
    if name == "txs":
        _arity(fields, 1, name)
        if not isinstance(fields[0], list):
            raise DecodeError("txs: expected an array")
        return TxsMsg(tuple(_bytes(tx, "transaction") for tx in fields[0]))
    _arity(fields, 1, name)
    return EvidenceMsg(codec.evidence_from_obj(fields[0]))


def bitmap(indices: list[int]) -> bytes:
    """Encode validator indices as a little-endian bit set."""
    if not indices:
        return b""
    out = bytearray(max(indices) // 8 + 1)
    for i in indices:
        out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def bitmap_has(bits: bytes, index: int) -> bool:
    byte = index // 8
    return byte < len(bits) and bool(bits[byte] & (1 << (index % 8)))
