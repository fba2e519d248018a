"""The ledger's invariants over a whole committed state, for tests and the simulator.

For each currency: the sum of balances plus pending redemptions equals minted minus redeemed;
`pending` equals the sum of its pending redemptions; no balance, allowance or supply is
negative or above MAX_AMOUNT. Zero balances and allowances are never stored. Every balance,
allowance and redemption names a known currency. Cost: one pass over the state.
"""

from __future__ import annotations

from collections.abc import Mapping

from ledger import layout as L
from ledger.amounts import MAX_AMOUNT
from ledger.layout import CurrencyRecord, RedemptionRecord


class LedgerInvariantError(AssertionError):
    """The ledger broke one of its own invariants (a bug in this code, never bad input)."""


def _code_of(key: bytes, prefix: bytes) -> str:
    return key[len(prefix) + 32 :].decode("ascii")


def check_ledger_invariants(state: Mapping[bytes, bytes]) -> None:
    """Raise LedgerInvariantError naming the first broken invariant of `state`."""
    currencies: dict[str, CurrencyRecord] = {}
    balances: dict[str, int] = {}
    pending: dict[str, int] = {}
    amounts: list[tuple[str, str, int]] = []
    for key, value in state.items():
        if key.startswith(L.CUR):
            code = key[len(L.CUR) :].decode("ascii")
            currencies[code] = CurrencyRecord.decode(value)
        elif key.startswith(L.BAL):
            code = _code_of(key, L.BAL)
            amount = L.decode_int(value, "balance")
            amounts.append(("balance", code, amount))
            balances[code] = balances.get(code, 0) + amount
        elif key.startswith(L.ALLOW):
            amounts.append(("allowance", _code_of(key, L.ALLOW), L.decode_int(value, "allowance")))
        elif key.startswith(L.RED):
            redemption = RedemptionRecord.decode(value)
            amounts.append(("redemption", redemption.currency, redemption.amount))
            pending[redemption.currency] = pending.get(redemption.currency, 0) + redemption.amount
    for what, code, amount in amounts:
        if code not in currencies:
            raise LedgerInvariantError(f"a {what} names unknown currency {code}")
        if not 0 < amount <= MAX_AMOUNT:
            raise LedgerInvariantError(f"a {what} of {code} is {amount}, outside 1..MAX_AMOUNT")
    for code, c in sorted(currencies.items()):
        if not 0 <= c.redeemed <= c.minted or not 0 <= c.supply <= MAX_AMOUNT:
            raise LedgerInvariantError(f"{code}: minted {c.minted}, redeemed {c.redeemed}")
        if c.pending != pending.get(code, 0):
            raise LedgerInvariantError(
                f"{code}: pending {c.pending} != sum of redemptions {pending.get(code, 0)}"
            )
        held = balances.get(code, 0) + c.pending
        if held != c.supply:
            raise LedgerInvariantError(
                f"{code}: balances + pending = {held} != minted - redeemed = {c.supply}"
            )
