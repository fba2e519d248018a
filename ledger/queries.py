"""Read-only answers for the client API: an account, a transaction's outcome, a supply.

Values only, computed from a committed state mapping; the app exposes them as methods. A
transaction's outcome is kept in the state while its tx_id is in the seen window; older
outcomes come from the store (`Store.load_tx_result`), decoded with `decode_tx_result`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from ledger import layout as L
from ledger.layout import (
    CurrencyRecord,
    ParticipantRecord,
    RedemptionRecord,
    SeenRecord,
    StateCorruptError,
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


def encode_outcome(height: int, index: int, code: str, message: str) -> bytes:
    """The bytes stored per tx_id (`BlockExecution.encoded_results`); `decode_tx_result` reads
    them back as a `TxOutcome`."""
    return L.pack([height, index, code, message])


def decode_tx_result(raw: bytes) -> TxOutcome:
    value = L.unpack(raw, "tx result")
    if type(value) is not list or len(value) != 4:
        raise StateCorruptError("tx result: expected an array of 4 items")
    return TxOutcome(value[0], value[1], value[2], value[3])


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


def seen_outcome(state: Mapping[bytes, bytes], tx_id: bytes) -> TxOutcome | None:
    raw = state.get(L.seen_key(tx_id))
    if raw is None:
        return None
    seen = SeenRecord.decode(raw)
    return TxOutcome(seen.height, seen.index, seen.code)


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
