"""The reference model's ledger state: plain dicts of small values, no encoding at all.

What the deposit token holds, in the model's own terms: who holds which role, the currencies
(issuer, pause flag, minted / redeemed / pending totals), mint allowances, participants (KYC
expiry height, frozen flag), balances, pending redemptions, and the deposit and payout
references already used (with the height that used them). Balances and allowances of zero are
absent, so two equal ledgers are equal values (`==` compares every table). `invariant_errors`
states the accounting rules the model must keep whatever the transactions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import attrs

from sim.reference.codec import MAX_AMOUNT

if TYPE_CHECKING:
    from ledger.genesis import Genesis


@attrs.define
class Currency:
    scale: int
    issuer: bytes
    paused: bool = False
    minted: int = 0
    redeemed: int = 0
    pending: int = 0

    @property
    def outstanding(self) -> int:
        return self.minted - self.redeemed


@attrs.define
class Participant:
    name: str
    kyc_expiry_height: int
    frozen: bool = False


@attrs.frozen
class Redemption:
    holder: bytes
    currency: str
    amount: int


Account = tuple[bytes, str]  # (public key, currency code)
Ref = tuple[str, str]  # (currency code, reference)


@attrs.define
class ModelState:
    """Every table of the ledger (see the module docstring)."""

    roles: dict[str, set[bytes]] = attrs.field(factory=dict)
    currencies: dict[str, Currency] = attrs.field(factory=dict)
    allowances: dict[Account, int] = attrs.field(factory=dict)
    participants: dict[bytes, Participant] = attrs.field(factory=dict)
    balances: dict[Account, int] = attrs.field(factory=dict)
    redemptions: dict[bytes, Redemption] = attrs.field(factory=dict)
    deposit_refs: dict[Ref, int] = attrs.field(factory=dict)
    payout_refs: dict[Ref, int] = attrs.field(factory=dict)

    @classmethod
    def from_genesis(cls, genesis: Genesis) -> ModelState:
        state = cls()
        state.roles = {"GOVERNOR": set(genesis.governors), "COMPLIANCE": set(genesis.compliance)}
        state.roles = {role: keys for role, keys in state.roles.items() if keys}
        for c in genesis.currencies:
            state.currencies[c.code] = Currency(c.scale, c.issuer)
            state.set_allowance(c.issuer, c.code, c.mint_allowance)
        for p in genesis.participants:
            state.participants[p.key] = Participant(p.name, p.kyc_expiry_height)
        return state

    # ------------------------------------------------------------ reads

    def holds(self, role: str, key: bytes) -> bool:
        return key in self.roles.get(role, ())

    def balance(self, key: bytes, code: str) -> int:
        return self.balances.get((key, code), 0)

    def allowance(self, key: bytes, code: str) -> int:
        return self.allowances.get((key, code), 0)

    def balances_of(self, key: bytes) -> dict[str, int]:
        return {code: v for (k, code), v in sorted(self.balances.items()) if k == key}

    # ------------------------------------------------------------ writes

    def set_balance(self, key: bytes, code: str, amount: int) -> None:
        self._set(self.balances, (key, code), amount)

    def set_allowance(self, key: bytes, code: str, amount: int) -> None:
        self._set(self.allowances, (key, code), amount)

    @staticmethod
    def _set(table: dict[Account, int], account: Account, amount: int) -> None:
        if amount:
            table[account] = amount
        else:
            table.pop(account, None)

    def grant(self, role: str, key: bytes) -> None:
        self.roles.setdefault(role, set()).add(key)

    def revoke(self, role: str, key: bytes) -> None:
        holders = self.roles[role]
        holders.discard(key)
        if not holders:
            del self.roles[role]

    # ------------------------------------------------------------ accounting rules

    def invariant_errors(self) -> Iterator[str]:
        """Every broken accounting rule (none, for a correct model)."""
        held: dict[str, int] = {}
        for (_, code), amount in self.balances.items():
            held[code] = held.get(code, 0) + amount
            if code not in self.currencies or not 0 < amount <= MAX_AMOUNT:
                yield f"balance {amount} of {code}"
        pending: dict[str, int] = {}
        for r in self.redemptions.values():
            pending[r.currency] = pending.get(r.currency, 0) + r.amount
            if r.currency not in self.currencies or not 0 < r.amount <= MAX_AMOUNT:
                yield f"redemption of {r.amount} {r.currency}"
        for (_, code), amount in self.allowances.items():
            if code not in self.currencies or not 0 < amount <= MAX_AMOUNT:
                yield f"allowance {amount} of {code}"
        for code, c in sorted(self.currencies.items()):
            if c.pending != pending.get(code, 0):
                yield f"{code}: pending {c.pending} != redemptions {pending.get(code, 0)}"
            if not 0 <= c.redeemed <= c.minted or not 0 <= c.outstanding <= MAX_AMOUNT:
                yield f"{code}: minted {c.minted}, redeemed {c.redeemed}"
            if held.get(code, 0) + c.pending != c.outstanding:
                yield (
                    f"{code}: balances {held.get(code, 0)} + pending {c.pending} != "
                    f"minted {c.minted} - redeemed {c.redeemed}"
                )

    def differences(self, other: ModelState, limit: int = 3) -> list[str]:
        """The first few entries where `self` and `other` differ (for a readable verdict)."""
        out: list[str] = []
        for table in attrs.fields(ModelState):
            mine, theirs = getattr(self, table.name), getattr(other, table.name)
            if mine == theirs:
                continue
            for key in sorted(set(mine) | set(theirs), key=repr):
                if mine.get(key) != theirs.get(key):
                    out.append(
                        f"{table.name}[{_short(key)}]: {mine.get(key)!r} vs {theirs.get(key)!r}"
                    )
                    if len(out) >= limit:
                        return out
        return out


def _short(key: object) -> str:
    if isinstance(key, bytes):
        return key[:4].hex()
    if isinstance(key, tuple):
        return ",".join(_short(part) for part in key)
    return str(key)
