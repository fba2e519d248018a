"""The sign state with its kept blocks and prevotes (codec fields 9-10, replica/kept.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus import codec
from consensus.codec import DecodeError
from consensus.messages import SignState, Step, Vote, VoteType
from tests.consensus.test_codec import ids, keys, sign_states, sigs


@st.composite
def records(draw: st.DrawFn) -> tuple[SignState, tuple[bytes, ...], tuple[Vote, ...]]:
    state = draw(sign_states())
    blocks = tuple(draw(st.lists(st.binary(min_size=1, max_size=50), max_size=2)))
    prevotes = tuple(
        Vote(VoteType.PREVOTE, state.height, draw(st.integers(0, state.round)), block, key, sig)
        for block, key, sig in draw(st.lists(st.tuples(st.none() | ids, keys, sigs), max_size=4))
    )
    return state, blocks, prevotes


@given(records())
def test_a_record_round_trips_with_one_encoding_and_reads_as_its_sign_state(
    record: tuple[SignState, tuple[bytes, ...], tuple[Vote, ...]],
) -> None:
    state, blocks, prevotes = record
    raw = codec.encode_sign_state(state, blocks, prevotes)
    assert codec.decode_sign_record(raw) == record
    assert codec.decode_sign_state(raw) == state
    again = codec.decode_sign_record(raw)
    assert codec.encode_sign_state(*again) == raw
    if not blocks and not prevotes:
        assert raw == codec.encode_sign_state(state)


@given(sign_states())
def test_kept_votes_other_than_prevotes_of_its_height_up_to_its_round_are_refused(
    state: SignState,
) -> None:
    vote = Vote(VoteType.PREVOTE, state.height, state.round, b"b" * 32, b"k" * 32, b"s" * 64)
    wrong = [
        Vote(VoteType.PRECOMMIT, state.height, state.round, b"b" * 32, b"k" * 32, b"s" * 64),
    ]
    if state.round < codec.MAX_ROUND:
        wrong.append(
            Vote(VoteType.PREVOTE, state.height, state.round + 1, b"b" * 32, b"k" * 32, b"s" * 64)
        )
    if state.height < codec.MAX_HEIGHT:
        wrong.append(Vote(VoteType.PREVOTE, state.height + 1, 0, b"b" * 32, b"k" * 32, b"s" * 64))
    assert codec.decode_sign_record(codec.encode_sign_state(state, (), (vote,)))[2] == (vote,)
    for vote in wrong:
        with pytest.raises(DecodeError, match="kept prevotes"):
            codec.decode_sign_record(codec.encode_sign_state(state, (), (vote,)))


def test_more_than_two_kept_blocks_or_empty_ones_are_refused() -> None:
    state = SignState(3, 1, Step.PREVOTE)
    with pytest.raises(DecodeError, match="kept blocks"):
        codec.decode_sign_record(codec.encode_sign_state(state, (b"a", b"b", b"c")))
    with pytest.raises(DecodeError, match="kept blocks"):
        codec.decode_sign_record(codec.encode_sign_state(state, (b"",)))
