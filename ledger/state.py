"""Typed views over the ledger's key/value state, and the overlay a block executes in.

`LedgerState` reads through to a committed mapping and records every change in `writes`
(None deletes). Executing a block never touches the committed mapping: the app turns the
overlay's writes into `BlockExecution.writes` and applies them only after the store saved
them. A write of the value a key already has is dropped, so `writes` holds real changes only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ledger import layout as L
from ledger.layout import CurrencyRecord, ParticipantRecord, RedemptionRecord

if TYPE_CHECKING:
    from ledger.genesis import Genesis


class LedgerState:
    """Reads from `base` (committed state) and buffers changes in `writes`."""

    def __init__(self, base: Mapping[bytes, bytes]) -> None:
        self.base = base
        self.writes: dict[bytes, bytes | None] = {}

    # ------------------------------------------------------------ raw access

    def get(self, key: bytes) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.base.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        if self.base.get(key) == value:
            self.writes.pop(key, None)
        else:
            self.writes[key] = value

    # ------------------------------------------------------------ typed views

    def role_holders(self, role: str) -> list[bytes]:
        raw = self.get(L.role_key(role))
        return [] if raw is None else L.decode_keys(raw, f"role {role}")

    def has_role(self, role: str, key: bytes) -> bool:
        return key in self.role_holders(role)

    def set_role_holders(self, role: str, keys: list[bytes]) -> None:
        self.put(L.role_key(role), L.encode_keys(keys) if keys else None)

    def currency(self, code: str) -> CurrencyRecord | None:
        raw = self.get(L.currency_key(code))
        return None if raw is None else CurrencyRecord.decode(raw)

    def set_currency(self, code: str, record: CurrencyRecord) -> None:
        self.put(L.currency_key(code), record.encode())

    def participant(self, key: bytes) -> ParticipantRecord | None:
        raw = self.get(L.account_key(key))
        return None if raw is None else ParticipantRecord.decode(raw)

    def set_participant(self, key: bytes, record: ParticipantRecord) -> None:
        self.put(L.account_key(key), record.encode())

    def balance(self, key: bytes, code: str) -> int:
        raw = self.get(L.balance_key(key, code))
        return 0 if raw is None else L.decode_int(raw, "balance")

    def set_balance(self, key: bytes, code: str, amount: int) -> None:
        assert amount >= 0, "balances never go negative"
        self.put(L.balance_key(key, code), L.encode_int(amount) if amount else None)

    def allowance(self, key: bytes, code: str) -> int:
        raw = self.get(L.allowance_key(key, code))
        return 0 if raw is None else L.decode_int(raw, "allowance")

    def set_allowance(self, key: bytes, code: str, amount: int) -> None:
        assert amount >= 0, "allowances never go negative"
        self.put(L.allowance_key(key, code), L.encode_int(amount) if amount else None)

    def deposit_ref_used(self, code: str, ref: str) -> bool:
        return self.get(L.deposit_ref_key(code, ref)) is not None

    def use_deposit_ref(self, code: str, ref: str, height: int) -> None:
        self.put(L.deposit_ref_key(code, ref), L.encode_int(height))

    def payout_ref_used(self, code: str, ref: str) -> bool:
        return self.get(L.payout_ref_key(code, ref)) is not None

    def use_payout_ref(self, code: str, ref: str, height: int) -> None:
        self.put(L.payout_ref_key(code, ref), L.encode_int(height))

    def redemption(self, redemption_id: bytes) -> RedemptionRecord | None:
        raw = self.get(L.redemption_key(redemption_id))
        return None if raw is None else RedemptionRecord.decode(raw)

    def set_redemption(self, redemption_id: bytes, record: RedemptionRecord | None) -> None:
        self.put(L.redemption_key(redemption_id), None if record is None else record.encode())


def genesis_entries(genesis: Genesis) -> dict[bytes, bytes]:
    """The state at height 0 described by `genesis`."""
    state = LedgerState({})
    limits = genesis.limits
    state.put(
        L.CHAIN_KEY,
        L.pack(
            [
                genesis.chain_id,
                limits.max_tx_bytes,
                limits.max_validity_window_ms,
                limits.max_memo_bytes,
            ]
        ),
    )
    state.set_role_holders("GOVERNOR", list(genesis.governors))
    state.set_role_holders("COMPLIANCE", list(genesis.compliance))
    for c in genesis.currencies:
        state.set_currency(c.code, CurrencyRecord(c.scale, c.issuer, False, 0, 0, 0))
        state.set_allowance(c.issuer, c.code, c.mint_allowance)
    for p in genesis.participants:
        state.set_participant(p.key, ParticipantRecord(p.name, p.kyc_expiry_height, False))
    return {k: v for k, v in state.writes.items() if v is not None}
