"""The sign state with the blocks kept beside it (codec field 11, consensus/replica/kept.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus import codec
from consensus.codec import DecodeError
from consensus.messages import SignState, Step
from tests.consensus.test_codec import sign_states


@given(sign_states(), st.lists(st.binary(min_size=1, max_size=50), max_size=2))
def test_a_record_round_trips_with_one_encoding_and_reads_as_its_sign_state(
    state: SignState, blocks: list[bytes]
) -> None:
    raw = codec.encode_sign_state(state, tuple(blocks))
    assert codec.decode_sign_record(raw) == (state, tuple(blocks))
    assert codec.decode_sign_state(raw) == state
    assert codec.encode_sign_state(*codec.decode_sign_record(raw)) == raw
    if not blocks:
        assert raw == codec.encode_sign_state(state)


def test_no_kept_block_more_than_two_or_an_empty_one_is_refused() -> None:
    state = SignState(3, 1, Step.PREVOTE)
    fields = codec.sign_state_to_obj(state)
    for kept in ([], [b"a", b"b", b"c"], [b""], ["text"]):
        with pytest.raises(DecodeError, match="kept blocks"):
            codec.decode_sign_record(codec.packb([*fields, kept]))
