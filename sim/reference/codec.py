"""The reference model's reading of a transaction's bytes, written from the wire spec alone.

Why a decoder of its own: which bytes may sit in a block is part of what the model judges, so
it cannot borrow the ledger's decoder (`ledger.txcodec`). This one is written from the spec in
that module's docstring and uses plain msgpack:

    [2, chain_id, kind, nonce: bin16, signer: bin32, valid_until_ms: uint64, [fields], sig: bin64]

A transaction is exactly one byte string: whatever does not re-encode to the same bytes is
refused. The signature covers `SIGN_DOMAIN` + the same array without the signature; the id is
`blake2b-128(ID_TAG || signer || nonce)`; two transactions are "the same" under an id when
their signed contents (sign bytes) are equal. Each refusal carries the ledger's stable code, in
the order the spec gives them (size, decoding, envelope, body fields, then the chain rules),
so the stateful test can compare codes with the ledger's for any bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import attrs
import msgpack

VERSION = 2
SIGN_DOMAIN = b"depositnet/tx/v2\x00"
ID_TAG = b"depositnet/tx_id/v1\x00"
MAX_AMOUNT = 2**63 - 1
MAX_U64 = 2**64 - 1
_CURRENCY = re.compile(r"[A-Z]{3,12}")
_CHAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ROLES = ("GOVERNOR", "COMPLIANCE")


class Refused(Exception):
    """Bytes that no valid block may hold; `code` is the ledger's stable code for why."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code = code
        self.why = why


# ---------------------------------------------------------------- field kinds

Check = Callable[[object], str | None]  # a field's value -> the refusal code, or None


def _bytes(size: int) -> Check:
    def check(value: object) -> str | None:
        if type(value) is not bytes:
            return "WRONG_TYPE"
        return None if len(value) == size else "BAD_FIELD"

    return check


def _text(low: int, high: int) -> Check:
    def check(value: object) -> str | None:
        if type(value) is not str:
            return "WRONG_TYPE"
        return None if low <= len(value.encode("utf-8")) <= high else "BAD_FIELD"

    return check


def _count(high: int) -> Check:
    def check(value: object) -> str | None:
        if type(value) is not int:
            return "WRONG_TYPE"
        return None if 0 <= value <= high else "BAD_FIELD"

    return check


def _money(low: int) -> Check:
    def check(value: object) -> str | None:
        if type(value) is not int:
            return "AMOUNT_NOT_INTEGER"
        return None if low <= value <= MAX_AMOUNT else "AMOUNT_OUT_OF_RANGE"

    return check


def _code(value: object) -> str | None:
    if type(value) is not str:
        return "WRONG_TYPE"
    return None if _CURRENCY.fullmatch(value) else "BAD_FIELD"


def _role(value: object) -> str | None:
    if type(value) is not str:
        return "WRONG_TYPE"
    return None if value in ROLES else "BAD_FIELD"


KEY, ID, SIG = _bytes(32), _bytes(16), _bytes(64)
NAME, REF, TEXT = _text(1, 64), _text(1, 64), _text(0, 4096)

KINDS: dict[int, tuple[str, tuple[Check, ...]]] = {
    1: ("ADD_CURRENCY", (_code, _count(18), KEY)),
    2: ("SET_MINT_ALLOWANCE", (KEY, _code, _money(0))),
    3: ("GRANT_ROLE", (_role, KEY)),
    4: ("REVOKE_ROLE", (_role, KEY)),
    10: ("REGISTER_PARTICIPANT", (KEY, NAME, _count(MAX_U64))),
    11: ("FREEZE", (KEY,)),
    12: ("UNFREEZE", (KEY,)),
    13: ("PAUSE", (_code,)),
    14: ("UNPAUSE", (_code,)),
    20: ("MINT", (KEY, _code, _money(1), REF)),
    21: ("SETTLE_REDEMPTION", (ID, REF)),
    22: ("REJECT_REDEMPTION", (ID, TEXT)),
    30: ("TRANSFER", (KEY, KEY, _code, _money(1), TEXT)),
    31: ("REDEEM", (_code, _money(1))),
}
"""Wire tag -> (name, the checks of its body fields in order)."""

TRANSFER = 30


@attrs.frozen
class ModelTx:
    """A decoded transaction, as the model sees it."""

    raw: bytes
    chain_id: str
    kind: int
    nonce: bytes
    signer: bytes
    valid_until_ms: int
    fields: tuple[object, ...]
    signature: bytes
    sign_bytes: bytes
    tx_id: bytes

    @property
    def name(self) -> str:
        return KINDS[self.kind][0]


def tx_id_of(signer: bytes, nonce: bytes) -> bytes:
    return hashlib.blake2b(ID_TAG + signer + nonce, digest_size=16).digest()


def _unpack(raw: bytes) -> object:
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=True, use_list=True)
    except msgpack.ExtraData:
        raise Refused("TRAILING_BYTES", "bytes after the transaction") from None
    except Exception as exc:  # garbage fails in many ways; every one is "malformed"
        raise Refused("MALFORMED", f"not msgpack ({type(exc).__name__})") from None


def _canonical(value: object, raw: bytes) -> bool:
    try:
        return bool(msgpack.packb(value, use_bin_type=True) == raw)
    except Exception:
        return False


def _field(check: Check, value: object, what: str) -> None:
    code = check(value)
    if code is not None:
        raise Refused(code, f"{what}: {value!r:.40}")


def decode(raw: bytes, max_tx_bytes: int) -> ModelTx:
    """Decode `raw` or raise Refused (everything decided by the bytes alone)."""
    if type(raw) is not bytes:
        raise Refused("WRONG_TYPE", "a transaction is bytes")
    if len(raw) > max_tx_bytes:
        raise Refused("TX_TOO_LARGE", f"{len(raw)} bytes")
    value = _unpack(raw)
    if not _canonical(value, raw):
        raise Refused("NON_CANONICAL", "another encoding of the same value")
    if type(value) is not list or len(value) != 8:
        raise Refused("MALFORMED", "not an array of 8")
    version, chain_id, kind, nonce, signer, until, fields, signature = value
    if type(version) is not int or version != VERSION:
        raise Refused("BAD_VERSION", repr(version))
    if type(chain_id) is not str or not _CHAIN_ID.fullmatch(chain_id):
        raise Refused("BAD_FIELD", "chain_id")
    if type(kind) is not int or kind not in KINDS:
        raise Refused("UNKNOWN_KIND", repr(kind))
    _field(ID, nonce, "nonce")
    _field(KEY, signer, "signer")
    _field(_count(MAX_U64), until, "valid_until_ms")
    _field(SIG, signature, "signature")
    name, checks = KINDS[kind]
    if type(fields) is not list or len(fields) != len(checks):
        raise Refused("MALFORMED", f"{name} takes {len(checks)} fields")
    for position, (check, field) in enumerate(zip(checks, fields, strict=True)):
        _field(check, field, f"{name} field {position}")
    assert isinstance(nonce, bytes) and isinstance(signer, bytes) and isinstance(until, int)
    assert isinstance(signature, bytes)
    signed = msgpack.packb(value[:7], use_bin_type=True)
    return ModelTx(
        raw=raw,
        chain_id=chain_id,
        kind=kind,
        nonce=nonce,
        signer=signer,
        valid_until_ms=until,
        fields=tuple(fields),
        signature=signature,
        sign_bytes=SIGN_DOMAIN + signed,
        tx_id=tx_id_of(signer, nonce),
    )


def check_rules(tx: ModelTx, chain_id: str, max_memo_bytes: int) -> None:
    """The chain's own rules on a decoded transaction (raises Refused)."""
    if tx.chain_id != chain_id:
        raise Refused("WRONG_CHAIN", f"signed for {tx.chain_id!r}")
    if tx.kind == TRANSFER:
        sender, recipient, _, _, memo = tx.fields
        if sender != tx.signer:
            raise Refused("NOT_OWNER", "a transfer is signed by its sender")
        if sender == recipient:
            raise Refused("SELF_TRANSFER", "to oneself")
        assert isinstance(memo, str)
        if len(memo.encode("utf-8")) > max_memo_bytes:
            raise Refused("MEMO_TOO_LARGE", f"more than {max_memo_bytes} bytes")


def check_window(tx: ModelTx, time_ms: int, window_ms: int) -> None:
    """May `tx` be in a block stamped `time_ms`? (raises Refused)"""
    if tx.valid_until_ms < time_ms:
        raise Refused("EXPIRED", f"valid until {tx.valid_until_ms}, block time {time_ms}")
    if tx.valid_until_ms > time_ms + window_ms:
        raise Refused("TOO_FAR_AHEAD", f"valid until {tx.valid_until_ms}, block time {time_ms}")
