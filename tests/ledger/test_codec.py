"""The transaction codec: round trips, one canonical encoding, typed refusals."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger import txcodec
from ledger.amounts import MAX_AMOUNT
from ledger.codes import Code
from ledger.tx import (
    AddCurrency,
    Freeze,
    GrantRole,
    Kind,
    Mint,
    Pause,
    Redeem,
    RegisterParticipant,
    RejectRedemption,
    RevokeRole,
    SetMintAllowance,
    SettleRedemption,
    SignedTx,
    Transfer,
    Unfreeze,
    Unpause,
)
from ledger.txcodec import TxDecodeError, decode_tx, from_wire, sign_bytes_of, to_wire

keys = st.binary(min_size=32, max_size=32)
ids = st.binary(min_size=16, max_size=16)
codes = st.from_regex(r"[A-Z]{3,12}", fullmatch=True)
amounts = st.integers(1, MAX_AMOUNT)
refs = st.text(min_size=1, max_size=16)
texts = st.text(max_size=40)
roles = st.sampled_from(["GOVERNOR", "COMPLIANCE"])

bodies = st.one_of(
    st.builds(AddCurrency, codes, st.integers(0, 18), keys),
    st.builds(SetMintAllowance, keys, codes, st.integers(0, MAX_AMOUNT)),
    st.builds(GrantRole, roles, keys),
    st.builds(RevokeRole, roles, keys),
    st.builds(
        RegisterParticipant, keys, st.text(min_size=1, max_size=10), st.integers(0, 2**64 - 1)
    ),
    st.builds(Freeze, keys),
    st.builds(Unfreeze, keys),
    st.builds(Pause, codes),
    st.builds(Unpause, codes),
    st.builds(Mint, keys, codes, amounts, refs),
    st.builds(SettleRedemption, ids, refs),
    st.builds(RejectRedemption, ids, texts),
    st.builds(Transfer, keys, keys, codes, amounts, texts),
    st.builds(Redeem, codes, amounts),
)
signed = st.builds(
    SignedTx,
    st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True),
    ids,
    keys,
    st.integers(0, 2**64 - 1),
    bodies,
    st.binary(min_size=64, max_size=64),
)


@given(signed)
def test_every_kind_round_trips(tx: SignedTx) -> None:
    wire = to_wire(tx)
    decoded = decode_tx(wire)
    assert decoded.tx == tx
    assert decoded.sign_bytes == sign_bytes_of(tx.chain_id, tx.unsigned)
    assert to_wire(decoded.tx) == wire


@given(signed, st.binary(min_size=1, max_size=4))
def test_trailing_bytes_are_refused(tx: SignedTx, extra: bytes) -> None:
    with pytest.raises(TxDecodeError) as info:
        from_wire(to_wire(tx) + extra)
    assert info.value.code is Code.TRAILING_BYTES


@given(signed, st.data())
def test_every_truncation_is_refused(tx: SignedTx, data: st.DataObject) -> None:
    wire = to_wire(tx)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(TxDecodeError) as info:
        from_wire(wire[:cut])
    assert info.value.code is Code.MALFORMED


@given(st.binary(max_size=300))
def test_garbage_never_crashes(data: bytes) -> None:
    try:
        decode_tx(data)
    except TxDecodeError as exc:
        assert isinstance(exc.code, Code)


def _array(tx: SignedTx) -> list[object]:
    return msgpack.unpackb(to_wire(tx))


SAMPLE = SignedTx("c", b"\1" * 16, b"\2" * 32, 7, Redeem("USD", 5), b"\3" * 64)


def test_non_canonical_integer_is_refused() -> None:
    wire = to_wire(SAMPLE)
    # valid_until_ms 7 is the positive fixint 0x07; write it as a uint32 instead.
    at = len(msgpack.packb([1, "c", 31, b"\1" * 16, b"\2" * 32], use_bin_type=True))
    assert wire[at] == 0x07
    long_form = wire[:at] + b"\xce\x00\x00\x00\x07" + wire[at + 1 :]
    assert msgpack.unpackb(long_form) == msgpack.unpackb(wire)  # same value, other bytes
    with pytest.raises(TxDecodeError) as info:
        from_wire(long_form)
    assert info.value.code is Code.NON_CANONICAL


def test_non_canonical_string_is_refused() -> None:
    wire = to_wire(SAMPLE)
    # the chain id "c" is the fixstr 0xa1 0x63; write it as a str8 instead.
    assert wire[2:4] == b"\xa1c"
    long_form = wire[:2] + b"\xd9\x01c" + wire[4:]
    assert msgpack.unpackb(long_form) == msgpack.unpackb(wire)
    with pytest.raises(TxDecodeError) as info:
        from_wire(long_form)
    assert info.value.code is Code.NON_CANONICAL


def test_a_map_in_place_of_the_array_is_refused() -> None:
    with pytest.raises(TxDecodeError) as info:
        from_wire(msgpack.packb({"kind": 31}))
    assert info.value.code is Code.MALFORMED


@pytest.mark.parametrize(
    ("index", "value", "code"),
    [
        (0, 1, Code.BAD_VERSION),
        (0, True, Code.BAD_VERSION),
        (1, "bad chain!", Code.BAD_FIELD),
        (2, 99, Code.UNKNOWN_KIND),
        (3, b"\1" * 15, Code.BAD_FIELD),
        (3, "x" * 16, Code.WRONG_TYPE),
        (4, b"\2" * 33, Code.BAD_FIELD),
        (5, -1, Code.BAD_FIELD),
        (5, 1.0, Code.WRONG_TYPE),
        (6, ["USD"], Code.MALFORMED),
        (6, ["usd", 5], Code.BAD_FIELD),
        (6, ["USD", True], Code.AMOUNT_NOT_INTEGER),
        (6, ["USD", 5.0], Code.AMOUNT_NOT_INTEGER),
        (6, ["USD", "5"], Code.AMOUNT_NOT_INTEGER),
        (6, ["USD", 0], Code.AMOUNT_OUT_OF_RANGE),
        (6, ["USD", -5], Code.AMOUNT_OUT_OF_RANGE),
        (6, ["USD", MAX_AMOUNT + 1], Code.AMOUNT_OUT_OF_RANGE),
        (7, b"\3" * 63, Code.BAD_FIELD),
    ],
)
def test_bad_fields_have_stable_codes(index: int, value: object, code: Code) -> None:
    items = _array(SAMPLE)
    items[index] = value
    with pytest.raises(TxDecodeError) as info:
        from_wire(msgpack.packb(items, use_bin_type=True))
    assert info.value.code is code


field_values = st.one_of(
    keys,
    st.binary(max_size=40),
    codes,
    st.text(max_size=20),
    st.text(min_size=1000, max_size=1100),
    st.integers(-(2**64), 2**64),
    st.sampled_from([0, 1, MAX_AMOUNT, MAX_AMOUNT + 1, True, False, None, 1.5]),
)


near_valid_transfer_fields = st.tuples(
    st.one_of(keys, field_values),
    st.one_of(keys, field_values),
    st.one_of(st.just("USD"), field_values),
    st.one_of(amounts, field_values),
    st.one_of(texts, field_values),
).map(list)


@given(near_valid_transfer_fields)
def test_the_transfer_fast_path_accepts_only_what_the_field_checks_accept(
    fields: list[object],
) -> None:
    """The fast path may refuse more, never accept more, and builds the same body."""
    txcodec._currency("currency", "USD")  # a code seen before: the fast path knows it
    fast = txcodec._transfer_fast(fields)
    checks = txcodec.FIELD_CHECKS[Kind.TRANSFER]
    names = txcodec.FIELD_NAMES[Kind.TRANSFER]
    try:
        slow: Transfer | None = Transfer(
            *[check(n, v) for check, n, v in zip(checks, names, fields, strict=True)]
        )
    except TxDecodeError:
        slow = None
    if fast is not None:
        assert fast == slow


@given(keys, keys, codes, amounts, st.text(max_size=100))
def test_plain_transfers_take_the_fast_path(
    sender: bytes, recipient: bytes, code: str, amount: int, memo: str
) -> None:
    txcodec._currency("currency", code)
    fast = txcodec._transfer_fast([sender, recipient, code, amount, memo])
    assert fast == Transfer(sender, recipient, code, amount, memo)


def test_an_empty_chain_id_is_refused_after_a_valid_one() -> None:
    good = to_wire(
        SignedTx("chain-a", b"\x01" * 16, b"\x02" * 32, 5, Freeze(b"\x03" * 32), b"\x04" * 64)
    )
    decode_tx(good)
    bad = to_wire(SignedTx("", b"\x01" * 16, b"\x02" * 32, 5, Freeze(b"\x03" * 32), b"\x04" * 64))
    with pytest.raises(TxDecodeError) as info:
        decode_tx(bad)
    assert info.value.code is Code.BAD_FIELD


@pytest.mark.parametrize(
    ("index", "bad"),
    [
        (0, b"\x01" * 31),
        (0, "k" * 32),
        (1, b""),
        (1, None),
        (2, "usd"),
        (2, b"USD"),
        (3, 0),
        (3, -1),
        (3, MAX_AMOUNT + 1),
        (3, True),
        (3, 1.5),
        (4, b"memo"),
        (4, "x" * 4097),
    ],
)
def test_the_transfer_fast_path_refuses_each_bad_field(index: int, bad: object) -> None:
    txcodec._currency("currency", "USD")
    fields: list[object] = [b"\x01" * 32, b"\x02" * 32, "USD", 5, "memo"]
    assert txcodec._transfer_fast(list(fields)) is not None
    fields[index] = bad
    assert txcodec._transfer_fast(fields) is None
    with pytest.raises(TxDecodeError):
        checks, names = txcodec.FIELD_CHECKS[Kind.TRANSFER], txcodec.FIELD_NAMES[Kind.TRANSFER]
        [check(n, v) for check, n, v in zip(checks, names, fields, strict=True)]
