"""The validators' committed state, read into the reference model's terms.

The oracle compares the model's state with what the validators committed, so it needs the
validators' state as a `ModelState`. This module reads it from the key/value writes of each
committed height (`HeightRecord.writes`), with the ledger's layout: reading is not judging,
and the app hash (recomputed here from the writes, `ledger.apphash`) ties the entries read to
the certified header. Each write updates one table entry, so a height costs its writes, not
the whole state.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from ledger import layout as L
from ledger.apphash import Accumulator
from ledger.layout import CurrencyRecord, ParticipantRecord, RedemptionRecord
from sim.reference.state import Currency, ModelState, Participant, Redemption


class ObservedState:
    """A committed state (entries, app-hash accumulator) and its reading as a ModelState."""

    def __init__(self) -> None:
        self.entries: dict[bytes, bytes] = {}
        self.acc = Accumulator()
        self.model = ModelState()

    @classmethod
    def of(cls, entries: Mapping[bytes, bytes]) -> ObservedState:
        observed = cls()
        observed.apply(entries)
        return observed

    def apply(self, writes: Mapping[bytes, bytes | None]) -> None:
        """Apply one height's writes (None deletes), in key order."""
        for key in sorted(writes):
            new = writes[key]
            old = self.entries.get(key)
            self.acc.update(key, old, new)
            if new is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = new
            _read(self.model, key, new)

    def app_hash(self, height: int) -> bytes:
        return self.acc.app_hash(height)


def _code_after_key(key: bytes, prefix: bytes) -> tuple[bytes, str]:
    rest = key[len(prefix) :]
    return rest[:32], rest[32:].decode("ascii")


def _ref(key: bytes, prefix: bytes) -> tuple[str, str]:
    code, _, ref = key[len(prefix) :].partition(b"/")
    return code.decode("ascii"), ref.decode("utf-8")


K = TypeVar("K")
V = TypeVar("V")


def _set(table: dict[K, V], key: K, value: V | None) -> None:
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value


def _read(m: ModelState, key: bytes, raw: bytes | None) -> None:
    """Update the one table entry `key` names (unknown prefixes are not the model's)."""
    if key.startswith(L.BAL):
        owner, code = _code_after_key(key, L.BAL)
        _set(m.balances, (owner, code), None if raw is None else L.decode_int(raw, "balance"))
    elif key.startswith(L.ALLOW):
        owner, code = _code_after_key(key, L.ALLOW)
        amount = None if raw is None else L.decode_int(raw, "allowance")
        _set(m.allowances, (owner, code), amount)
    elif key.startswith(L.CUR):
        code = key[len(L.CUR) :].decode("ascii")
        c = None if raw is None else CurrencyRecord.decode(raw)
        currency = None
        if c is not None:
            currency = Currency(c.scale, c.issuer, c.paused, c.minted, c.redeemed, c.pending)
        _set(m.currencies, code, currency)
    elif key.startswith(L.ACCT):
        p = None if raw is None else ParticipantRecord.decode(raw)
        participant = None if p is None else Participant(p.name, p.kyc_expiry_height, p.frozen)
        _set(m.participants, key[len(L.ACCT) :], participant)
    elif key.startswith(L.RED):
        r = None if raw is None else RedemptionRecord.decode(raw)
        redemption = None if r is None else Redemption(r.holder, r.currency, r.amount)
        _set(m.redemptions, key[len(L.RED) :], redemption)
    elif key.startswith(L.DEP):
        used = None if raw is None else L.decode_int(raw, "deposit ref")
        _set(m.deposit_refs, _ref(key, L.DEP), used)
    elif key.startswith(L.PAY):
        used = None if raw is None else L.decode_int(raw, "payout ref")
        _set(m.payout_refs, _ref(key, L.PAY), used)
    elif key.startswith(L.ROLES):
        role = key[len(L.ROLES) :].decode("ascii")
        keys = None if raw is None else set(L.decode_keys(raw, "role"))
        _set(m.roles, role, keys or None)
