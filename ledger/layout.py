"""The ledger's state as a key/value map: which key holds what, and how values are encoded.

All state is bytes -> bytes so the store can persist a block's changes as plain writes and the
app hash can be a digest over entries. Keys start with an ASCII prefix naming the table;
account keys are fixed-size (32-byte public keys, 16-byte ids), so no separator is needed
after them. Values are canonical msgpack arrays. A zero balance or allowance is deleted
rather than stored, so equal ledgers are equal maps (and have equal app hashes). Committed
tx_ids are not state: they are in the store's used-id index (`ledger.used_ids`).

    chain                   -> [chain_id, max_tx_bytes, max_validity_window_ms, max_memo_bytes]
    roles/<ROLE>            -> sorted list of public keys holding ROLE
    cur/<CODE>              -> CurrencyRecord
    acct/<key32>            -> ParticipantRecord
    bal/<key32><CODE>       -> balance (int > 0)
    allow/<key32><CODE>     -> mint allowance (int > 0)
    dep/<CODE>/<ref>        -> height at which the deposit_ref was used
    pay/<CODE>/<ref>        -> height at which the payout_ref was used
    red/<id16>              -> RedemptionRecord (a pending redemption)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import attrs
import msgpack

CHAIN_KEY = b"chain"
ROLES = b"roles/"
CUR = b"cur/"
ACCT = b"acct/"
BAL = b"bal/"
ALLOW = b"allow/"
DEP = b"dep/"
PAY = b"pay/"
RED = b"red/"


class StateCorruptError(RuntimeError):
    """A stored value does not decode: the store is damaged or from another version."""


def pack(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(raw: bytes, what: str) -> object:
    try:
        return msgpack.unpackb(raw, raw=False, use_list=True)
    except Exception as exc:
        raise StateCorruptError(f"cannot decode {what}: {exc}") from None


R = TypeVar("R")


class _DecodeMemo(Generic[R]):
    """Decoded records by their stored bytes (equal bytes decode to equal frozen records).

    A block reads the same currency and the same busy accounts for many transactions; this
    spares re-decoding them. Bounded: cleared when full (a cache miss only costs a decode)."""

    __slots__ = ("_build", "_items", "_limit")

    def __init__(self, build: Callable[[bytes], R], limit: int = 4096) -> None:
        self._build = build
        self._items: dict[bytes, R] = {}
        self._limit = limit

    def decode(self, raw: bytes) -> R:
        record = self._items.get(raw)
        if record is None:
            record = self._build(raw)
            if len(self._items) >= self._limit:
                self._items.clear()
            self._items[raw] = record
        return record


def _fields(raw: bytes, what: str, count: int) -> list[object]:
    value = unpack(raw, what)
    if type(value) is not list or len(value) != count:
        raise StateCorruptError(f"{what}: expected an array of {count} items")
    return value


def role_key(role: str) -> bytes:
    return ROLES + role.encode("ascii")


def currency_key(code: str) -> bytes:
    return CUR + code.encode("ascii")


def account_key(key: bytes) -> bytes:
    return ACCT + key


def balance_key(key: bytes, code: str) -> bytes:
    return BAL + key + code.encode("ascii")


def allowance_key(key: bytes, code: str) -> bytes:
    return ALLOW + key + code.encode("ascii")


def deposit_ref_key(code: str, ref: str) -> bytes:
    return DEP + code.encode("ascii") + b"/" + ref.encode("utf-8")


def payout_ref_key(code: str, ref: str) -> bytes:
    return PAY + code.encode("ascii") + b"/" + ref.encode("utf-8")


def redemption_key(redemption_id: bytes) -> bytes:
    return RED + redemption_id


@attrs.frozen
class CurrencyRecord:
    scale: int
    issuer: bytes
    paused: bool
    minted: int  # everything ever minted
    redeemed: int  # everything ever burned by settled redemptions
    pending: int  # sum of pending redemptions

    @property
    def supply(self) -> int:
        """Tokens outstanding: balances plus pending redemptions."""
        return self.minted - self.redeemed

    def encode(self) -> bytes:
        return pack(
            [self.scale, self.issuer, self.paused, self.minted, self.redeemed, self.pending]
        )

    @classmethod
    def decode(cls, raw: bytes) -> CurrencyRecord:
        return _CURRENCIES.decode(raw)

    @classmethod
    def _decode_fields(cls, raw: bytes) -> CurrencyRecord:
        f = _fields(raw, "currency record", 6)
        return cls(f[0], f[1], f[2], f[3], f[4], f[5])  # type: ignore[arg-type]


@attrs.frozen
class ParticipantRecord:
    name: str
    kyc_expiry_height: int
    frozen: bool

    def encode(self) -> bytes:
        return pack([self.name, self.kyc_expiry_height, self.frozen])

    @classmethod
    def decode(cls, raw: bytes) -> ParticipantRecord:
        return _PARTICIPANTS.decode(raw)

    @classmethod
    def _decode_fields(cls, raw: bytes) -> ParticipantRecord:
        f = _fields(raw, "participant record", 3)
        return cls(f[0], f[1], f[2])  # type: ignore[arg-type]


@attrs.frozen
class RedemptionRecord:
    holder: bytes
    currency: str
    amount: int

    def encode(self) -> bytes:
        return pack([self.holder, self.currency, self.amount])

    @classmethod
    def decode(cls, raw: bytes) -> RedemptionRecord:
        f = _fields(raw, "redemption record", 3)
        return cls(f[0], f[1], f[2])  # type: ignore[arg-type]


_CURRENCIES = _DecodeMemo(CurrencyRecord._decode_fields)
_PARTICIPANTS = _DecodeMemo(ParticipantRecord._decode_fields)


def encode_int(value: int) -> bytes:
    return pack(value)


def decode_int(raw: bytes, what: str) -> int:
    value = unpack(raw, what)
    if type(value) is not int:
        raise StateCorruptError(f"{what}: expected an integer")
    return value


def encode_keys(keys: list[bytes]) -> bytes:
    return pack(sorted(keys))


def decode_keys(raw: bytes, what: str) -> list[bytes]:
    value = unpack(raw, what)
    if type(value) is not list or not all(type(k) is bytes for k in value):
        raise StateCorruptError(f"{what}: expected a list of keys")
    return value
