"""Blocks and replica wire messages: one canonical encoding; hostile bytes raise DecodeError."""

from __future__ import annotations

import contextlib

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.codec import DecodeError, packb
from consensus.messages import (
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    Step,
    Vote,
    VoteType,
)
from consensus.replica.block import (
    GENESIS_BLOCK_ID,
    block_id,
    decode_block,
    decode_header,
    encode_block,
    encode_header,
    make_block,
)
from consensus.replica.wire import (
    KIND_NAMES,
    CommittedBlock,
    EvidenceMsg,
    GetBlocks,
    GetRound,
    ProposalMsg,
    StatusMsg,
    TxsMsg,
    VoteMsg,
    bitmap,
    bitmap_has,
    decode_wire,
    encode_wire,
    message_kind,
)

KEY = b"\x11" * 32
SIG = b"\x22" * 64


def vote(block: bytes | None = b"\x33" * 32, rnd: int = 0) -> Vote:
    return Vote(VoteType.PRECOMMIT, 1, rnd, block, KEY, SIG)


def sample_block(txs: tuple[bytes, ...] = (b"tx1", b"tx2"), height: int = 2):
    commit = Commit(height - 1, 0, b"\x44" * 32, (vote(b"\x44" * 32),)) if height > 1 else None
    evidence = (DuplicateVoteEvidence(vote(b"\x01" * 32), vote(b"\x02" * 32)),)
    return make_block(
        chain_id="c",
        height=height,
        time_ms=1234,
        prev_block_id=GENESIS_BLOCK_ID,
        app_hash=b"\x55" * 32,
        results_root=b"\x77" * 32,
        proposer=KEY,
        txs=txs,
        last_commit=commit,
        evidence=evidence,
    )


@given(st.lists(st.binary(max_size=50), max_size=10), st.integers(1, 2**40))
def test_block_round_trips_and_id_covers_the_body(txs: list[bytes], height: int) -> None:
    block = sample_block(tuple(txs), height)
    raw = encode_block(block)
    assert decode_block(raw, 1 << 20) == block
    other = sample_block((*txs, b"extra"), height)
    assert block_id(other.header) != block_id(block.header)
    assert decode_header(encode_header(block.header)) == block.header
    assert block.header.num_txs == len(txs)


def test_block_whose_header_does_not_commit_to_its_body_is_refused() -> None:
    block = sample_block()
    tampered = attrs.evolve(block, txs=(b"tx1", b"evil"))
    with pytest.raises(DecodeError, match="root"):
        decode_block(encode_block(tampered), 1 << 20)
    longer = attrs.evolve(block, txs=(b"tx1", b"tx2", b"more"))
    with pytest.raises(DecodeError, match="num_txs"):
        decode_block(encode_block(longer), 1 << 20)
    counted = attrs.evolve(longer, header=attrs.evolve(block.header, num_txs=3))
    with pytest.raises(DecodeError, match="root"):
        decode_block(encode_block(counted), 1 << 20)
    with pytest.raises(DecodeError):
        decode_block(encode_block(block), 10)  # over the size cap
    with pytest.raises(DecodeError):
        decode_block(encode_block(block) + b"\x00", 1 << 20)  # trailing byte


MESSAGES = [
    ProposalMsg(Proposal(3, 1, 0, b"\x66" * 32, KEY, SIG), b"block bytes"),
    VoteMsg(vote()),
    VoteMsg(vote(None, 7)),
    StatusMsg(5, 2, Step.PRECOMMIT, 4, True, bitmap([0, 3]), bitmap([9])),
    GetRound(5, 1),
    GetBlocks(1, 16),
    CommittedBlock(b"b", b"c"),
    TxsMsg((b"a", b"bc")),
    EvidenceMsg(DuplicateVoteEvidence(vote(b"\x01" * 32), vote(None))),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_and_names_its_kind(msg: object) -> None:
    payload = encode_wire(msg)  # type: ignore[arg-type]
    assert decode_wire(payload) == msg
    assert message_kind(payload) in KIND_NAMES.values()


def test_malformed_messages_raise_decode_error() -> None:
    bad = [
        b"",
        b"\x90",  # empty array
        packb([99]),  # unknown kind
        packb([5, 0, 1]),  # GetBlocks from height 0
        packb([5, 1, 1000]),  # too many blocks
        packb([4, True, 1]),  # bool is not an int
        packb([3, 1, 0, 9, 0, False, b"", b""]),  # unknown step
        packb([4, 1]),  # missing field
        encode_wire(GetRound(1, 1)) + b"\x00",  # trailing byte
    ]
    for payload in bad:
        with pytest.raises(DecodeError):
            decode_wire(payload)
    with pytest.raises(DecodeError):
        decode_wire(encode_wire(TxsMsg((b"x" * 100,))), max_size=50)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_wire(data)
    assert message_kind(data) in (None, *KIND_NAMES.values())


@given(st.sets(st.integers(0, 255)))
def test_bitmap(indices: set[int]) -> None:
    bits = bitmap(sorted(indices))
    assert {i for i in range(256) if bitmap_has(bits, i)} == indices
