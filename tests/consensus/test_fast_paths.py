"""The speed-ups of the shared code, each held to the plain version it replaced (py-evm style:
a reference beside the optimised one, under hypothesis).

Every fast path must give the same answer as its reference for any input: the same value, or
the same error with the same message. The references below are the code as it was before the
fast path (canonical packing with its copying walk, field-by-field decoding, a scan for a
validator's power, decoding and verifying afresh every time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from consensus import codec
from consensus.codec import DecodeError
from consensus.crypto import ED25519, Ed25519Signer, VerifyMemo
from consensus.messages import Step, Validator, ValidatorSet, Vote, VoteType
from consensus.replica.block import Header, block_id, decode_block, encode_header
from consensus.replica.decoded import DecodeMemo
from consensus.replica.wire import MAX_WIRE_BYTES, decode_wire
from consensus.votes import VoteSet
from tests.consensus.reference_checks import reference_vote_set_check

# ---------------------------------------------------------------- helpers


def outcome(fn: Callable[[], object]) -> tuple[str, object]:
    """("ok", value) or (exception type name, message): what a call did, for comparison."""
    try:
        return "ok", fn()
    except Exception as exc:
        return type(exc).__name__, str(exc)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.binary(max_size=40)
    | st.text(max_size=8)
    | st.floats(allow_nan=False)
    | st.sampled_from([Step.PREVOTE, VoteType.PRECOMMIT])
)
trees = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.lists(inner, max_size=6).map(tuple)
        | st.dictionaries(st.text(max_size=4) | st.binary(max_size=4), inner, max_size=4)
    ),
    max_leaves=30,
)


def nested(depth: int) -> list[Any]:
    obj: list[Any] = [1, b"x"]
    for _ in range(depth):
        obj = [obj, 2]
    return obj


def reference_packb(obj: object) -> bytes:
    """`codec.packb` before its fast path: always the copying, map-sorting walk."""
    result: bytes = msgpack.packb(codec._canonical(obj), use_bin_type=True)
    return result


def reference_unpackb_canonical(data: bytes, max_size: int = codec.MAX_MESSAGE_BYTES) -> object:
    """`codec.unpackb_canonical` re-encoding with `reference_packb`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise DecodeError(f"{len(data)} bytes exceeds the limit of {max_size}")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=codec._refuse_ext,
            timestamp=0,
        )
        again = reference_packb(obj)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"malformed msgpack: {type(exc).__name__}: {exc}") from None
    if again != data:
        raise DecodeError("not the canonical encoding")
    return obj


# ---------------------------------------------------------------- canonical msgpack


@given(trees)
def test_packb_equals_the_copying_walk(obj: object) -> None:
    assert outcome(lambda: codec.packb(obj)) == outcome(lambda: reference_packb(obj))


def test_packb_keeps_the_depth_limit() -> None:
    for depth in range(codec.MAX_DEPTH - 2, codec.MAX_DEPTH + 3):
        obj = nested(depth)
        assert outcome(lambda obj=obj: codec.packb(obj)) == outcome(
            lambda obj=obj: reference_packb(obj)
        )
    assert outcome(lambda: codec.packb(nested(codec.MAX_DEPTH + 1)))[0] == "TypeError"


@given(trees, st.data())
def test_unpackb_canonical_equals_the_reference(obj: object, data: st.DataObject) -> None:
    try:
        raw = msgpack.packb(obj, use_bin_type=True)
    except Exception:
        return
    mutated = bytearray(raw)
    if mutated and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(mutated) - 1))
        mutated[i] = data.draw(st.integers(0, 255))
    blob = bytes(mutated)
    assert outcome(lambda: codec.unpackb_canonical(blob)) == outcome(
        lambda: reference_unpackb_canonical(blob)
    )


# ---------------------------------------------------------------- field decoders

field_values = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([codec.MAX_HEIGHT, codec.MAX_HEIGHT + 1, codec.MAX_ROUND + 1])
    | st.binary(min_size=31, max_size=33)
    | st.binary(min_size=63, max_size=65)
    | st.binary(max_size=2)
    | st.text(max_size=2)
)


@st.composite
def vote_objs(draw: st.DrawFn) -> object:
    good = [
        draw(st.sampled_from([1, 2])),
        draw(st.integers(0, 5)),
        draw(st.integers(0, 5)),
        draw(st.none() | st.binary(min_size=32, max_size=32)),
        draw(st.binary(min_size=32, max_size=32)),
        draw(st.binary(min_size=64, max_size=64)),
    ]
    for _ in range(draw(st.integers(0, 2))):
        good[draw(st.integers(0, 5))] = draw(field_values)
    return draw(st.sampled_from([good, good[:5], [*good, 1], tuple(good), None]))


@given(vote_objs())
def test_vote_from_obj_equals_the_field_by_field_decoder(obj: object) -> None:
    assert outcome(lambda: codec.vote_from_obj(obj)) == outcome(
        lambda: codec._vote_from_fields(obj)
    )


@st.composite
def sign_state_objs(draw: st.DrawFn) -> object:
    r = draw(st.integers(0, 3))
    locked = draw(st.integers(-1, r))
    valid = draw(st.integers(-1, r))
    value = draw(st.binary(min_size=32, max_size=32))
    polka_vote = [1, draw(st.integers(0, 3)), valid, value, b"k" * 32, b"s" * 64]
    own_vote = [draw(st.integers(1, 2)), draw(st.integers(0, 3)), 0, None, b"k" * 32, b"s" * 64]
    record = [
        draw(st.integers(0, 3)),
        draw(st.integers(0, 3)),
        draw(st.integers(0, 2)),
        draw(st.binary(min_size=1, max_size=4)),
        draw(st.binary(min_size=64, max_size=64)),
    ]
    for _ in range(draw(st.integers(0, 1))):
        record[draw(st.integers(0, 4))] = draw(field_values)
    good: list[Any] = [
        draw(st.integers(0, 3)),
        r,
        draw(st.integers(0, 2)),
        locked,
        None if locked == -1 else draw(st.binary(min_size=32, max_size=32)),
        valid,
        None if valid == -1 else value,
        draw(st.sampled_from([None, record, record[:4]])),
        draw(st.sampled_from([[], [polka_vote], [polka_vote, polka_vote], [[1]], None])),
        draw(st.sampled_from([[], [own_vote], [own_vote, own_vote], [[2]], None])),
    ]
    for _ in range(draw(st.integers(0, 2))):
        good[draw(st.integers(0, 9))] = draw(field_values)
    return draw(st.sampled_from([good, good[:9], good[:8], tuple(good)]))


@given(sign_state_objs())
def test_sign_state_from_obj_equals_the_field_by_field_decoder(obj: object) -> None:
    assert outcome(lambda: codec.sign_state_from_obj(obj)) == outcome(
        lambda: codec._sign_state_from_fields(obj)
    )


# ---------------------------------------------------------------- validator sets


def scan_power(validators: ValidatorSet, key: object) -> int:
    for v in validators.validators:
        if v.public_key == key:
            return v.power
    return 0


@given(
    st.lists(
        st.tuples(st.sampled_from([b"a" * 32, b"b" * 32, b"c" * 32]), st.integers(0, 5)),
        max_size=5,
    ),
    st.sampled_from([b"a" * 32, b"b" * 32, b"d" * 32, bytearray(b"a" * 32), "a", None]),
)
def test_validator_power_equals_a_scan(members: list[tuple[bytes, int]], key: object) -> None:
    validators = ValidatorSet(tuple(Validator(k, p) for k, p in members))
    assert validators.power_of(key) == scan_power(validators, key)  # type: ignore[arg-type]
    assert validators.total_power == sum(p for _, p in members)


def test_a_malformed_validator_set_still_answers_by_scanning() -> None:
    odd = ValidatorSet((Validator([1], 3), Validator(b"k" * 32, "x")))  # type: ignore[arg-type]
    assert odd.power_of(b"k" * 32) == "x"
    assert odd.power_of([1]) == 3  # type: ignore[arg-type]


# ---------------------------------------------------------------- memos


def blobs() -> st.SearchStrategy[bytes]:
    vote = msgpack.packb([2, [1, 3, 0, None, b"v" * 32, b"s" * 64]], use_bin_type=True)
    status = msgpack.packb([3, 1, 0, 0, 0, False, b"", b""], use_bin_type=True)
    return st.sampled_from([vote, status, vote + b"\x00", b"\x92\x02", b""]) | st.binary(
        max_size=30
    )


@given(st.lists(st.tuples(blobs(), st.sampled_from([10, 200, MAX_WIRE_BYTES])), max_size=8))
def test_decode_memo_answers_as_decoding_afresh(calls: list[tuple[bytes, int]]) -> None:
    memo = DecodeMemo(max_entries=3, max_bytes=400)
    for payload, limit in calls:
        assert outcome(lambda p=payload, m=limit: memo.wire(p, m)) == outcome(
            lambda p=payload, m=limit: decode_wire(p, m)
        )
        assert outcome(lambda p=payload, m=limit: memo.block(p, m)) == outcome(
            lambda p=payload, m=limit: decode_block(p, m)
        )


def test_decode_memo_keeps_one_table_per_decoder() -> None:
    memo = DecodeMemo()
    payload = msgpack.packb([3, 1, 0, 0, 0, False, b"", b""], use_bin_type=True)
    real = memo.wire(payload)
    assert memo.wire(payload, MAX_WIRE_BYTES, lambda p, m: "planted") == "planted"  # type: ignore[arg-type,return-value]
    assert memo.wire(payload) is real
    assert outcome(lambda: memo.wire(bytearray(payload))) == outcome(  # type: ignore[arg-type]
        lambda: decode_wire(bytearray(payload))  # type: ignore[arg-type]
    )


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["good", "other message", "bad signature", "odd types"]),
            st.booleans(),
        ),
        max_size=10,
    )
)
def test_verify_memo_answers_as_the_scheme(calls: list[tuple[str, bool]]) -> None:
    signer = Ed25519Signer(bytes(range(32)))
    memo = VerifyMemo(ED25519, max_entries=2)
    signature = signer.sign(b"message")
    cases: dict[str, tuple[Any, Any, Any]] = {
        "good": (signer.public_key, b"message", signature),
        "other message": (signer.public_key, b"other", signature),
        "bad signature": (signer.public_key, b"message", bytes(64)),
        "odd types": (bytearray(signer.public_key), b"message", signature),
    }
    for name, _again in calls:
        args = cases[name]
        assert memo.verify(*args) == ED25519.verify(*args)
    assert VerifyMemo(memo).scheme is ED25519  # memos do not stack


def test_block_id_memo_is_by_identity_and_answers_as_hashing() -> None:
    header = Header("c", 1, 5, bytes(32), b"a", b"p" * 32, 0, *(bytes(32),) * 4)
    twin = Header("c", 1, 5, bytes(32), b"a", b"p" * 32, 0, *(bytes(32),) * 4)
    other = Header("c", 2, 5, bytes(32), b"a", b"p" * 32, 0, *(bytes(32),) * 4)
    expected = hashlib.sha256(b"depositnet/block" + encode_header(header)).digest()
    assert block_id(header) == block_id(header) == block_id(twin) == expected
    assert block_id(other) == hashlib.sha256(b"depositnet/block" + encode_header(other)).digest()


# ---------------------------------------------------------------- invariant checks


VOTERS = [bytes([k]) * 32 for k in range(4)]
VALUES: list[bytes | None] = [None, b"a" * 32, b"b" * 32]


@given(
    st.lists(st.tuples(st.sampled_from(VOTERS), st.sampled_from(VALUES)), max_size=8),
    st.lists(
        st.sampled_from(["power", "tally", "zero tally", "extra vote", "other type", "big"]),
        max_size=2,
    ),
)
def test_vote_set_check_equals_the_reference(
    votes: list[tuple[bytes, bytes | None]], corruptions: list[str]
) -> None:
    """Healthy and corrupted vote sets (a planted counting bug leaves them so): the check
    fails exactly when the reference fails, with the same message."""
    vote_set = VoteSet(VoteType.PREVOTE, 12)
    for key, value in votes:
        vote_set.add(Vote(VoteType.PREVOTE, 1, 0, value, key, b"s"), 3)
    for corruption in corruptions:
        if corruption == "power":
            vote_set._power += 1
        elif corruption == "tally":
            vote_set._power_by_value[VALUES[1]] = vote_set._power_by_value.get(VALUES[1], 0) + 3
        elif corruption == "zero tally":
            vote_set._power_by_value[VALUES[2]] = 0
        elif corruption == "extra vote" and vote_set._votes:
            held = next(iter(vote_set._votes.values()))
            held.append(held[0])
        elif corruption == "other type" and vote_set._votes:
            held = next(iter(vote_set._votes.values()))
            held[0] = Vote(VoteType.PRECOMMIT, 1, 0, held[0].block_id, held[0].validator)
        elif corruption == "big":
            vote_set._power_by_value[None] = 100
            vote_set._power = 100
    assert outcome(vote_set.check) == outcome(lambda: reference_vote_set_check(vote_set))


def test_the_core_rechecks_exactly_the_vote_sets_handed_out_since_its_last_check() -> None:
    """Every change to a vote set goes through `HeightLog.vote_set`: a set handed out is
    checked again (a corrupted tally is caught at the next check); one left alone is not
    rescanned, and nothing else changes it."""
    from consensus.height_log import HeightLog

    log = HeightLog(12)
    first = log.vote_set(0, VoteType.PREVOTE)
    second = log.vote_set(1, VoteType.PREVOTE)
    first.add(Vote(VoteType.PREVOTE, 1, 0, None, VOTERS[0], b"s"), 3)
    assert log.vote_sets_to_check() == [first, second]
    assert log.vote_sets_to_check() == []
    log.vote_set(1, VoteType.PREVOTE)._power += 1  # a planted counting bug's doing
    (again,) = log.vote_sets_to_check()
    assert again is second and outcome(again.check)[0] == "AssertionError"
