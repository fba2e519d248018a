"""Read-only answers for the client API: an account, a transaction's outcome, a supply.

Values only, computed from a committed state mapping; the app exposes them as methods. A
transaction's outcome comes from the used-id index (`ledger.used_ids`), not the state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from ledger import layout as L
from ledger.layout import (
    CurrencyRecord,
    ParticipantRecord,
    RedemptionRecord,
)


@attrs.frozen
class AccountView:
    public_key: bytes
    registered: bool
    name: str
    kyc_expiry_height: int
    frozen: bool
    balances: Mapping[str, int]  # currency -> balance in minor units (non-zero only)


@attrs.frozen
class TxOutcome:
    height: int
    index: int
    code: str
    message: str = ""


@attrs.frozen
class SupplyView:
    currency: str
    scale: int
    issuer: bytes
    paused: bool
    minted: int
    redeemed: int
    pending_redemptions: int

    @property
    def outstanding(self) -> int:
        """Tokens in circulation: balances plus pending redemptions."""
        return self.minted - self.redeemed


def account_view(
    state: Mapping[bytes, bytes], public_key: bytes, currencies: Iterable[str]
) -> AccountView:
    raw = state.get(L.account_key(public_key))
    balances = {}
    for code in sorted(currencies):
        bal = state.get(L.balance_key(public_key, code))
        if bal is not None:
            balances[code] = L.decode_int(bal, "balance")
    if raw is None:
        return AccountView(public_key, False, "", 0, False, balances)
    record = ParticipantRecord.decode(raw)
    return AccountView(
        public_key, True, record.name, record.kyc_expiry_height, record.frozen, balances
    )


def supply_view(state: Mapping[bytes, bytes], code: str) -> SupplyView | None:
    raw = state.get(L.currency_key(code))
    if raw is None:
        return None
    c = CurrencyRecord.decode(raw)
    return SupplyView(code, c.scale, c.issuer, c.paused, c.minted, c.redeemed, c.pending)


def pending_redemptions(
    redemptions: Iterable[tuple[bytes, bytes]], holder: bytes
) -> dict[str, int]:
    """Per currency, what `holder` has pending in redemption, from the `red/` state entries."""
    pending: dict[str, int] = {}
    for _, raw in redemptions:
        record = RedemptionRecord.decode(raw)
        if record.holder == holder:
            pending[record.currency] = pending.get(record.currency, 0) + record.amount
    return pending
