"""The one canonical wire form of a transaction, and the bytes its signature covers.

Wire form (msgpack, the canonical encoding `msgpack.packb(..., use_bin_type=True)` produces):

    [version=2, chain_id: str, kind: int, nonce: bin16, signer: bin32,
     valid_until_ms: uint, [body fields in declaration order], signature: bin64]

Sign bytes: `SIGN_DOMAIN` followed by the same array without the signature, so the chain id,
the kind and every field are covered. Decoding accepts exactly one byte string per transaction:
it re-encodes what it read and refuses anything that differs (longer integer forms, str8 where
fixstr fits, floats, maps), trailing bytes, truncated input, wrong types and `bool` where an
integer is expected. Every refusal is a `TxDecodeError` with a stable code from `ledger.codes`.
Limits that come from genesis (size, memo, window) are checked in `ledger.validation`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

import attrs
import msgpack

from ledger.amounts import MAX_AMOUNT, MAX_U64, AmountError, check_amount
from ledger.codes import Code
from ledger.tx import (
    BODY_OF,
    KEY_SIZE,
    SIGNATURE_SIZE,
    TX_ID_SIZE,
    Body,
    Kind,
    Role,
    SignedTx,
    Transfer,
    UnsignedTx,
    kind_of,
)

VERSION = 2
SIGN_DOMAIN = b"depositnet/tx/v2\x00"
CURRENCY_RE = re.compile(r"[A-Z]{3,12}")
CHAIN_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_NAME_BYTES = 64
MAX_REF_BYTES = 64
MAX_TEXT_BYTES = 4096  # memo and reason; genesis caps the memo further
MAX_SCALE = 18


class TxDecodeError(ValueError):
    """Bytes that are not a well-formed transaction; `code` is a stable `Code`."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


@attrs.frozen
class DecodedTx:
    """A decoded transaction with the bytes its signature covers and its body hash."""

    tx: SignedTx
    sign_bytes: bytes
    body_hash: bytes  # blake2b-256 of sign_bytes: "same tx_id, same body?" compares these
    size: int  # length of the wire bytes


# ---------------------------------------------------------------- field checks


def _fail(code: Code, field: str, message: str) -> TxDecodeError:
    return TxDecodeError(code, f"{field}: {message}")


def _bytes_of(size: int) -> Callable[[str, object], bytes]:
    def check(field: str, value: object) -> bytes:
        if type(value) is not bytes:
            raise _fail(Code.WRONG_TYPE, field, f"expected bytes, got {type(value).__name__}")
        if len(value) != size:
            raise _fail(Code.BAD_FIELD, field, f"expected {size} bytes, got {len(value)}")
        return value

    return check


def _str_of(max_bytes: int, min_bytes: int = 0) -> Callable[[str, object], str]:
    def check(field: str, value: object) -> str:
        if type(value) is not str:
            raise _fail(Code.WRONG_TYPE, field, f"expected a string, got {type(value).__name__}")
        size = len(value.encode("utf-8"))
        if not min_bytes <= size <= max_bytes:
            raise _fail(
                Code.BAD_FIELD, field, f"length {size} bytes is outside {min_bytes}..{max_bytes}"
            )
        return value

    return check


def _uint(limit: int) -> Callable[[str, object], int]:
    def check(field: str, value: object) -> int:
        if type(value) is not int:
            raise _fail(Code.WRONG_TYPE, field, f"expected an integer, got {type(value).__name__}")
        if not 0 <= value <= limit:
            raise _fail(Code.BAD_FIELD, field, f"{value} is outside 0..{limit}")
        return value

    return check


def _amount(allow_zero: bool) -> Callable[[str, object], int]:
    def check(field: str, value: object) -> int:
        try:
            return check_amount(value, allow_zero=allow_zero)
        except AmountError as exc:
            raise _fail(Code(exc.code), field, str(exc)) from None

    return check


def _currency(field: str, value: object) -> str:
    if type(value) is not str:
        raise _fail(Code.WRONG_TYPE, field, f"expected a string, got {type(value).__name__}")
    if not CURRENCY_RE.fullmatch(value):
        raise _fail(Code.BAD_FIELD, field, f"{value!r} is not 3-12 uppercase letters A-Z")
    _remember_currency(value)
    return value


def _role(field: str, value: object) -> str:
    if type(value) is not str:
        raise _fail(Code.WRONG_TYPE, field, f"expected a string, got {type(value).__name__}")
    if value not in {r.value for r in Role}:
        raise _fail(Code.BAD_FIELD, field, f"unknown role {value!r}")
    return value


_VALID_CURRENCIES: set[str] = set()  # codes that passed CURRENCY_RE (a few, in practice)


def _fast_currency(value: object) -> bool:
    """True if `value` is a currency code already seen to be valid (skips the regex)."""
    return type(value) is str and value in _VALID_CURRENCIES


def _remember_currency(value: str) -> None:
    if len(_VALID_CURRENCIES) < 1024:
        _VALID_CURRENCIES.add(value)


_KEY = _bytes_of(KEY_SIZE)
_ID = _bytes_of(TX_ID_SIZE)
_NAME = _str_of(MAX_NAME_BYTES, 1)
_REF = _str_of(MAX_REF_BYTES, 1)
_TEXT = _str_of(MAX_TEXT_BYTES)

FIELD_CHECKS: dict[Kind, tuple[Callable[[str, object], Any], ...]] = {
    Kind.ADD_CURRENCY: (_currency, _uint(MAX_SCALE), _KEY),
    Kind.SET_MINT_ALLOWANCE: (_KEY, _currency, _amount(allow_zero=True)),
    Kind.GRANT_ROLE: (_role, _KEY),
    Kind.REVOKE_ROLE: (_role, _KEY),
    Kind.REGISTER_PARTICIPANT: (_KEY, _NAME, _uint(MAX_U64)),
    Kind.FREEZE: (_KEY,),
    Kind.UNFREEZE: (_KEY,),
    Kind.PAUSE: (_currency,),
    Kind.UNPAUSE: (_currency,),
    Kind.MINT: (_KEY, _currency, _amount(allow_zero=False), _REF),
    Kind.SETTLE_REDEMPTION: (_ID, _REF),
    Kind.REJECT_REDEMPTION: (_ID, _TEXT),
    Kind.TRANSFER: (_KEY, _KEY, _currency, _amount(allow_zero=False), _TEXT),
    Kind.REDEEM: (_currency, _amount(allow_zero=False)),
}


def _transfer_fast(fields: list[object]) -> Transfer | None:
    """A TRANSFER body if its fields are plainly valid, else None (then the per-field checks
    run and name the problem). Accepts a subset of what those checks accept: the hot kind."""
    sender, recipient, currency, amount, memo = fields
    if (
        type(sender) is bytes
        and len(sender) == KEY_SIZE
        and type(recipient) is bytes
        and len(recipient) == KEY_SIZE
        and _fast_currency(currency)
        and type(amount) is int
        and 0 < amount <= MAX_AMOUNT
        and type(memo) is str
        and len(memo) * 4 <= MAX_TEXT_BYTES  # UTF-8 takes at most 4 bytes per character
    ):
        return Transfer(sender, recipient, currency, amount, memo)  # type: ignore[arg-type]
    return None


FAST_BODIES: dict[Kind, Callable[[list[object]], Body | None]] = {Kind.TRANSFER: _transfer_fast}

FIELD_NAMES: dict[Kind, tuple[str, ...]] = {
    kind: tuple(f.name for f in attrs.fields(cls)) for kind, cls in BODY_OF.items()
}
assert all(len(FIELD_NAMES[k]) == len(FIELD_CHECKS[k]) for k in Kind)


# ---------------------------------------------------------------- encode


def _body_fields(body: Body) -> list[object]:
    return [getattr(body, name) for name in attrs.fields_dict(type(body))]


def _unsigned_array(chain_id: str, tx: UnsignedTx | SignedTx) -> list[object]:
    return [
        VERSION,
        chain_id,
        int(kind_of(tx.body)),
        tx.nonce,
        tx.signer,
        tx.valid_until_ms,
        _body_fields(tx.body),
    ]


def sign_bytes_of(chain_id: str, unsigned: UnsignedTx | SignedTx) -> bytes:
    """The bytes a signature over `unsigned` covers on `chain_id`."""
    return SIGN_DOMAIN + msgpack.packb(_unsigned_array(chain_id, unsigned), use_bin_type=True)


def to_wire(tx: SignedTx) -> bytes:
    """The canonical wire bytes of `tx` (values are written as given; decoding validates)."""
    return msgpack.packb([*_unsigned_array(tx.chain_id, tx), tx.signature], use_bin_type=True)


# ---------------------------------------------------------------- decode


def _unpack(data: bytes) -> object:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    except msgpack.ExtraData:
        raise TxDecodeError(Code.TRAILING_BYTES, "bytes follow the transaction") from None
    except Exception as exc:  # msgpack raises many types on garbage; all mean "malformed"
        raise TxDecodeError(Code.MALFORMED, f"not a msgpack value ({exc})") from None


def _repack(value: object) -> bytes | None:
    try:
        return msgpack.packb(value, use_bin_type=True)
    except Exception:
        return None


_ARRAY8 = 0x98  # fixarray of 8: the first byte of every canonical transaction
_ARRAY7 = b"\x97"  # fixarray of 7: the first byte of the signed array
_SIGNATURE_TAIL = 2 + SIGNATURE_SIZE  # bin8 header (0xc4, 64) + the signature
_KINDS: dict[int, Kind] = {int(k): k for k in Kind}
_U64 = _uint(MAX_U64)
_last_chain_id: list[str | None] = [None]  # the last valid chain id seen: skips the regex
_SIGNATURE = _bytes_of(SIGNATURE_SIZE)


def decode_tx(data: bytes) -> DecodedTx:
    """Decode canonical wire bytes, or raise TxDecodeError naming the first problem.

    The hot path of every validator (each transaction is decoded once per validator), so it
    avoids a second encoding: once the bytes are known to be canonical, the signed array is
    the same bytes with a 7-item header and without the trailing signature."""
    if type(data) is not bytes:
        raise TxDecodeError(Code.WRONG_TYPE, "a transaction is bytes")
    value = _unpack(data)
    if _repack(value) != data:
        raise TxDecodeError(Code.NON_CANONICAL, "not the canonical msgpack encoding")
    if type(value) is not list or len(value) != 8:
        raise TxDecodeError(Code.MALFORMED, "expected an array of 8 items")
    version, chain_id, kind_raw, nonce, signer, valid_until, fields, signature = value
    if type(version) is not int or version != VERSION:
        raise TxDecodeError(Code.BAD_VERSION, f"unsupported version {version!r}")
    if chain_id != _last_chain_id[0]:
        if type(chain_id) is not str or not CHAIN_ID_RE.fullmatch(chain_id):
            raise _fail(Code.BAD_FIELD, "chain_id", "expected 1-64 characters [A-Za-z0-9._-]")
        _last_chain_id[0] = chain_id
    kind = _KINDS.get(kind_raw) if type(kind_raw) is int else None
    if kind is None:
        raise TxDecodeError(Code.UNKNOWN_KIND, f"unknown transaction kind {kind_raw!r}")
    nonce = _ID("nonce", nonce)
    signer = _KEY("signer", signer)
    valid_until = _U64("valid_until_ms", valid_until)
    signature = _SIGNATURE("signature", signature)
    checks = FIELD_CHECKS[kind]
    if type(fields) is not list or len(fields) != len(checks):
        raise TxDecodeError(
            Code.MALFORMED, f"{kind.name} takes a list of {len(checks)} body fields"
        )
    fast = FAST_BODIES.get(kind)
    body = None if fast is None else fast(fields)
    if body is None:
        names = FIELD_NAMES[kind]
        body = BODY_OF[kind](
            *[check(n, v) for check, n, v in zip(checks, names, fields, strict=True)]
        )
    tx = SignedTx(chain_id, nonce, signer, valid_until, body, signature)
    assert data[0] == _ARRAY8
    sign_bytes = SIGN_DOMAIN + _ARRAY7 + data[1 : len(data) - _SIGNATURE_TAIL]
    body_hash = hashlib.blake2b(sign_bytes, digest_size=32).digest()
    return DecodedTx(tx=tx, sign_bytes=sign_bytes, body_hash=body_hash, size=len(data))


def from_wire(data: bytes) -> SignedTx:
    """Decode canonical wire bytes into a `SignedTx` (raises TxDecodeError)."""
    return decode_tx(data).tx


__all__ = [
    "MAX_AMOUNT",
    "SIGN_DOMAIN",
    "DecodedTx",
    "TxDecodeError",
    "decode_tx",
    "from_wire",
    "sign_bytes_of",
    "to_wire",
]
