"""The canonical codec: round trips for every value, and a catalogue of malformed input."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus import codec
from consensus.codec import DecodeError
from consensus.messages import (
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    SignedRecord,
    SignState,
    Step,
    Validator,
    ValidatorSet,
    Vote,
    VoteType,
)

heights = st.integers(0, codec.MAX_HEIGHT)
rounds = st.integers(0, codec.MAX_ROUND)
ids = st.binary(min_size=32, max_size=32)
keys = st.binary(min_size=32, max_size=32)
sigs = st.binary(min_size=64, max_size=64)


@st.composite
def proposals(draw: st.DrawFn) -> Proposal:
    r = draw(rounds)
    vr = draw(st.integers(-1, r - 1))
    return Proposal(draw(heights), r, vr, draw(ids), draw(keys), draw(sigs))


votes = st.builds(Vote, st.sampled_from(VoteType), heights, rounds, st.none() | ids, keys, sigs)
commits = st.builds(
    Commit, heights, rounds, ids, st.lists(votes, max_size=5).map(tuple)
)  # structure only: verify_commit judges the content
evidences = st.builds(DuplicateVoteEvidence, votes, votes)


@st.composite
def validator_sets(draw: st.DrawFn) -> ValidatorSet:
    pks = sorted(draw(st.sets(keys, min_size=1, max_size=8)))
    members = tuple(
        Validator(pk, draw(st.integers(1, codec.MAX_POWER)), draw(st.text(max_size=8)))
        for pk in pks
    )
    return ValidatorSet(members)


@st.composite
def sign_states(draw: st.DrawFn) -> SignState:
    h, r, step = draw(heights), draw(rounds), draw(st.sampled_from(Step))
    lr = draw(st.integers(-1, r))
    vr = draw(st.integers(-1, r))
    last = None
    if draw(st.booleans()):
        last = SignedRecord(
            draw(st.integers(0, h)),
            draw(st.integers(0, r)) if True else 0,
            Step.PROPOSE,
            draw(st.binary(min_size=1, max_size=100)),
            draw(sigs),
        )
    valid = None if vr == -1 else draw(ids)
    polka: tuple[Vote, ...] = ()
    if valid is not None:  # the prevotes behind the valid value, one per validator
        voters = draw(st.lists(keys, max_size=4, unique=True))
        polka = tuple(Vote(VoteType.PREVOTE, h, vr, valid, k, draw(sigs)) for k in voters)
    lock = None if lr == -1 else draw(ids)
    me = draw(keys)  # our own votes of the height: one per (round, type)
    slots = draw(st.lists(st.tuples(st.integers(0, r), st.sampled_from(VoteType)), unique=True))
    own = tuple(Vote(t, h, rr, draw(st.none() | ids), me, draw(sigs)) for rr, t in slots[:6])
    return SignState(h, r, step, lr, lock, vr, valid, last, polka, own)


PAIRS: list[tuple[st.SearchStrategy[object], Callable[..., bytes], Callable[[bytes], object]]] = [
    (proposals(), codec.encode_proposal, codec.decode_proposal),
    (votes, codec.encode_vote, codec.decode_vote),
    (commits, codec.encode_commit, codec.decode_commit),
    (evidences, codec.encode_evidence, codec.decode_evidence),
    (validator_sets(), codec.encode_validator_set, codec.decode_validator_set),
    (sign_states(), codec.encode_sign_state, codec.decode_sign_state),
]


@pytest.mark.parametrize("strategy, encode, decode", PAIRS)
@given(data=st.data())
def test_round_trip_and_single_encoding(
    strategy: st.SearchStrategy[object],
    encode: Callable[..., bytes],
    decode: Callable[[bytes], object],
    data: st.DataObject,
) -> None:
    value = data.draw(strategy)
    encoded = encode(value)
    assert decode(encoded) == value
    assert encode(decode(encoded)) == encoded


@pytest.mark.parametrize("strategy, encode, decode", PAIRS)
@given(data=st.data())
def test_decoders_raise_only_decode_error(
    strategy: st.SearchStrategy[object],
    encode: Callable[..., bytes],
    decode: Callable[[bytes], object],
    data: st.DataObject,
) -> None:
    """Mutated and random bytes either decode to a value that re-encodes identically, or fail
    with DecodeError: never another exception."""
    encoded = bytearray(encode(data.draw(strategy)))
    choice = data.draw(st.integers(0, 3))
    if choice == 0 and encoded:
        i = data.draw(st.integers(0, len(encoded) - 1))
        encoded[i] = data.draw(st.integers(0, 255))
    elif choice == 1:
        encoded = encoded[: data.draw(st.integers(0, len(encoded)))]
    elif choice == 2:
        encoded += data.draw(st.binary(min_size=1, max_size=4))
    else:
        encoded = bytearray(data.draw(st.binary(max_size=80)))
    try:
        value = decode(bytes(encoded))
    except DecodeError:
        return
    assert encode(value) == bytes(encoded)


P = Proposal(5, 2, 1, b"\x01" * 32, b"\x02" * 32, b"\x03" * 64)
V = Vote(VoteType.PREVOTE, 5, 2, None, b"\x02" * 32, b"\x03" * 64)


def _raw(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


MALFORMED_VOTES = {
    "empty": b"",
    "trailing byte": codec.encode_vote(V) + b"\x00",
    "not an array": _raw({"type": 1}),
    "missing field": _raw(codec.vote_to_obj(V)[:5]),
    "extra field": _raw([*codec.vote_to_obj(V), 0]),
    "bool as type": _raw([True, 5, 2, None, b"\x02" * 32, b"\x03" * 64]),
    "bool as height": _raw([1, True, 2, None, b"\x02" * 32, b"\x03" * 64]),
    "unknown vote type": _raw([3, 5, 2, None, b"\x02" * 32, b"\x03" * 64]),
    "negative round": _raw([1, 5, -1, None, b"\x02" * 32, b"\x03" * 64]),
    "height too big": _raw([1, 2**63, 2, None, b"\x02" * 32, b"\x03" * 64]),
    "float height": _raw([1, 5.0, 2, None, b"\x02" * 32, b"\x03" * 64]),
    "short block id": _raw([1, 5, 2, b"\x01" * 31, b"\x02" * 32, b"\x03" * 64]),
    "str block id": _raw([1, 5, 2, "x" * 32, b"\x02" * 32, b"\x03" * 64]),
    "short key": _raw([1, 5, 2, None, b"\x02" * 31, b"\x03" * 64]),
    "long signature": _raw([1, 5, 2, None, b"\x02" * 32, b"\x03" * 65]),
    "non-canonical int": b"\x96\x01\xcd\x00\x05\x02\xc0" + _raw(b"\x02" * 32) + _raw(b"\x03" * 64),
    "str8 for bin": b"\x96\x01\x05\x02\xc0\xd9\x20" + b"a" * 32 + _raw(b"\x03" * 64),
    "ext type": _raw([1, 5, 2, msgpack.ExtType(1, b"x"), b"\x02" * 32, b"\x03" * 64]),
    "invalid utf-8": b"\xa2\xff\xfe",
    "deep nesting": b"\x91" * 5000 + b"\xc0",
    "huge array header": b"\xdd\xff\xff\xff\xff",
    "oversize": b"\x00" * (codec.MAX_MESSAGE_BYTES + 1),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_VOTES))
def test_malformed_votes_are_rejected(name: str) -> None:
    with pytest.raises(DecodeError):
        codec.decode_vote(MALFORMED_VOTES[name])


def test_malformed_catalogue_other_values() -> None:
    good_p = codec.proposal_to_obj(P)
    bad_proposals: list[object] = [
        [*good_p[:2], 2, *good_p[3:]],  # valid_round == round
        [*good_p[:2], -2, *good_p[3:]],
        [5, 0, 0, *good_p[3:]],  # round 0 with vr 0
    ]
    for obj in bad_proposals:
        with pytest.raises(DecodeError):
            codec.decode_proposal(_raw(obj))
    key_a, key_b = b"\x01" * 32, b"\x02" * 32
    bad_sets: list[object] = [
        [],
        [[key_b, 1, ""], [key_a, 1, ""]],  # unsorted
        [[key_a, 1, ""], [key_a, 1, ""]],  # duplicate
        [[key_a, 0, ""]],  # zero power
        [[key_a, codec.MAX_POWER + 1, ""]],
        [[key_a, 1, b"name"]],
        [[key_a, 1, "x" * 65]],
    ]
    for obj in bad_sets:
        with pytest.raises(DecodeError):
            codec.decode_validator_set(_raw(obj))
    polka_vote = codec.vote_to_obj(attrs.evolve(V, type=VoteType.PREVOTE, height=1, round=0))
    bad_states: list[object] = [
        [1, 0, 0, 0, None, -1, None, None, [], []],  # locked round without value
        [1, 0, 0, -1, b"\x01" * 32, -1, None, None, [], []],
        [1, 0, 3, -1, None, -1, None, None, [], []],  # no such step
        [1, 0, 0, 1, b"\x01" * 32, -1, None, None, [], []],  # locked round above round
        [1, 0, 0, -1, None, -1, None, [2, 0, 0, b"x", b"\x03" * 64], [], []],  # signed ahead
        [1, 0, 0, -1, None, -1, None, None, []],  # no own_votes field
        [1, 0, 0, -1, None, -1, None, None, [polka_vote], []],  # a polka without a valid value
        [1, 0, 0, -1, None, 0, b"\x07" * 32, None, [polka_vote], []],  # a polka for another value
        [1, 0, 0, -1, None, -1, None, None, [], [polka_vote, polka_vote]],  # one slot twice
        [1, 0, 0, -1, None, -1, None, None, [], [codec.vote_to_obj(V)]],  # another height
    ]
    for obj in bad_states:
        with pytest.raises(DecodeError):
            codec.decode_sign_state(_raw(obj))
    with pytest.raises(DecodeError):
        codec.decode_commit(_raw([1, 0, b"\x01" * 32, [codec.vote_to_obj(V)] * 1025]))


def test_maps_are_canonical_with_sorted_keys() -> None:
    assert codec.packb({"b": 1, "a": 2}) == codec.packb({"a": 2, "b": 1})
    assert codec.unpackb_canonical(codec.packb({"b": 1, "a": 2})) == {"a": 2, "b": 1}
    unsorted = b"\x82\xa1b\x01\xa1a\x02"
    duplicate = b"\x82\xa1a\x01\xa1a\x02"
    for data in (unsorted, duplicate):
        with pytest.raises(DecodeError):
            codec.unpackb_canonical(data)
    with pytest.raises(DecodeError):
        codec.unpackb_canonical("not bytes")  # type: ignore[arg-type]
    with pytest.raises(DecodeError):
        codec.unpackb_canonical(_raw(1.5))


def test_validate_validator_set_rejects_bad_sets() -> None:
    with pytest.raises(ValueError):
        codec.validate_validator_set(ValidatorSet(()))
    with pytest.raises(ValueError):
        codec.validate_validator_set(ValidatorSet((Validator(b"\x01" * 32, True),)))
