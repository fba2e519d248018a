"""A small, independent reference model of the ledger rules, in plain dicts, for the stateful
test. It knows nothing of keys, msgpack or the state layout: it takes the parameters a test
built a transaction from and returns the code the ledger must report."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

MAX = 2**63 - 1


class ReferenceLedger:
    def __init__(self, genesis: Any) -> None:
        self.roles: dict[str, set[bytes]] = {
            "GOVERNOR": set(genesis.governors),
            "COMPLIANCE": set(genesis.compliance),
        }
        self.currencies: dict[str, dict[str, Any]] = {}
        self.allowances: dict[tuple[bytes, str], int] = defaultdict(int)
        for c in genesis.currencies:
            self.currencies[c.code] = {
                "issuer": c.issuer, "paused": False, "minted": 0, "redeemed": 0, "pending": 0,
            }  # fmt: skip
            self.allowances[(c.issuer, c.code)] = c.mint_allowance
        self.participants: dict[bytes, dict[str, Any]] = {}
        self.balances: dict[tuple[bytes, str], int] = defaultdict(int)
        self.deposit_refs: set[tuple[str, str]] = set()
        self.payout_refs: set[tuple[str, str]] = set()
        self.redemptions: dict[bytes, tuple[bytes, str, int]] = {}

    # ------------------------------------------------------------ helpers

    def _blocked(self, key: bytes, height: int) -> str | None:
        p = self.participants.get(key)
        if p is None:
            return "NOT_REGISTERED"
        if p["frozen"]:
            return "ACCOUNT_FROZEN"
        if height > p["kyc"]:
            return "KYC_EXPIRED"
        return None

    def _is(self, role: str, key: bytes) -> bool:
        return key in self.roles[role]

    # ------------------------------------------------------------ kinds

    def run(self, kind: str, signer: bytes, a: dict[str, Any], height: int, tx_id: bytes) -> str:
        return getattr(self, kind)(signer, height, tx_id, **a)

    def add_currency(self, s: bytes, h: int, t: bytes, code: str, scale: int, issuer: bytes) -> str:
        if not self._is("GOVERNOR", s):
            return "NOT_AUTHORIZED"
        if code in self.currencies:
            return "CURRENCY_EXISTS"
        self.currencies[code] = {
            "issuer": issuer, "paused": False, "minted": 0, "redeemed": 0, "pending": 0,
        }  # fmt: skip
        return "OK"

    def set_allowance(
        self, s: bytes, h: int, t: bytes, issuer: bytes, code: str, amount: int
    ) -> str:
        if not self._is("GOVERNOR", s):
            return "NOT_AUTHORIZED"
        if code not in self.currencies:
            return "UNKNOWN_CURRENCY"
        if self.currencies[code]["issuer"] != issuer:
            return "NOT_ISSUER"
        self.allowances[(issuer, code)] = amount
        return "OK"

    def grant(self, s: bytes, h: int, t: bytes, role: str, key: bytes) -> str:
        if not self._is("GOVERNOR", s):
            return "NOT_AUTHORIZED"
        if key == s:
            return "SELF_GRANT"
        if key in self.roles[role]:
            return "ROLE_ALREADY_HELD"
        self.roles[role].add(key)
        return "OK"

    def revoke(self, s: bytes, h: int, t: bytes, role: str, key: bytes) -> str:
        if not self._is("GOVERNOR", s):
            return "NOT_AUTHORIZED"
        if key not in self.roles[role]:
            return "ROLE_NOT_HELD"
        if role == "GOVERNOR" and len(self.roles[role]) == 1:
            return "LAST_GOVERNOR"
        self.roles[role].discard(key)
        return "OK"

    def register(self, s: bytes, h: int, t: bytes, key: bytes, kyc: int) -> str:
        if not self._is("COMPLIANCE", s):
            return "NOT_AUTHORIZED"
        frozen = self.participants.get(key, {}).get("frozen", False)
        self.participants[key] = {"kyc": kyc, "frozen": frozen}
        return "OK"

    def freeze(self, s: bytes, h: int, t: bytes, key: bytes, frozen: bool) -> str:
        if not self._is("COMPLIANCE", s):
            return "NOT_AUTHORIZED"
        if key not in self.participants:
            return "NOT_REGISTERED"
        self.participants[key]["frozen"] = frozen
        return "OK"

    def pause(self, s: bytes, h: int, t: bytes, code: str, paused: bool) -> str:
        if not self._is("COMPLIANCE", s):
            return "NOT_AUTHORIZED"
        if code not in self.currencies:
            return "UNKNOWN_CURRENCY"
        self.currencies[code]["paused"] = paused
        return "OK"

    def mint(self, s: bytes, h: int, t: bytes, to: bytes, code: str, amount: int, ref: str) -> str:
        c = self.currencies.get(code)
        if c is None:
            return "UNKNOWN_CURRENCY"
        if c["issuer"] != s:
            return "NOT_AUTHORIZED"
        if c["paused"]:
            return "CURRENCY_PAUSED"
        blocked = self._blocked(to, h)
        if blocked:
            return blocked
        if (code, ref) in self.deposit_refs:
            return "DEPOSIT_REF_USED"
        if amount > self.allowances[(s, code)]:
            return "ALLOWANCE_EXCEEDED"
        if c["minted"] - c["redeemed"] + amount > MAX:
            return "OVERFLOW"
        self.balances[(to, code)] += amount
        self.allowances[(s, code)] -= amount
        c["minted"] += amount
        self.deposit_refs.add((code, ref))
        return "OK"

    def settle(self, s: bytes, h: int, t: bytes, rid: bytes, ref: str) -> str:
        r = self.redemptions.get(rid)
        if r is None:
            return "UNKNOWN_REDEMPTION"
        _holder, code, amount = r
        c = self.currencies[code]
        if c["issuer"] != s:
            return "NOT_AUTHORIZED"
        if (code, ref) in self.payout_refs:
            return "PAYOUT_REF_USED"
        c["pending"] -= amount
        c["redeemed"] += amount
        del self.redemptions[rid]
        self.payout_refs.add((code, ref))
        return "OK"

    def reject(self, s: bytes, h: int, t: bytes, rid: bytes) -> str:
        r = self.redemptions.get(rid)
        if r is None:
            return "UNKNOWN_REDEMPTION"
        holder, code, amount = r
        c = self.currencies[code]
        if c["issuer"] != s:
            return "NOT_AUTHORIZED"
        self.balances[(holder, code)] += amount
        c["pending"] -= amount
        del self.redemptions[rid]
        return "OK"

    def transfer(self, s: bytes, h: int, t: bytes, to: bytes, code: str, amount: int) -> str:
        c = self.currencies.get(code)
        if c is None:
            return "UNKNOWN_CURRENCY"
        if c["paused"]:
            return "CURRENCY_PAUSED"
        blocked = self._blocked(s, h) or self._blocked(to, h)
        if blocked:
            return blocked
        if amount > self.balances[(s, code)]:
            return "INSUFFICIENT_FUNDS"
        if self.balances[(to, code)] + amount > MAX:
            return "OVERFLOW"
        self.balances[(s, code)] -= amount
        self.balances[(to, code)] += amount
        return "OK"

    def redeem(self, s: bytes, h: int, t: bytes, code: str, amount: int) -> str:
        c = self.currencies.get(code)
        if c is None:
            return "UNKNOWN_CURRENCY"
        if c["paused"]:
            return "CURRENCY_PAUSED"
        blocked = self._blocked(s, h)
        if blocked:
            return blocked
        if amount > self.balances[(s, code)]:
            return "INSUFFICIENT_FUNDS"
        self.balances[(s, code)] -= amount
        c["pending"] += amount
        self.redemptions[t] = (s, code, amount)
        return "OK"

    def nonzero_balances(self, key: bytes) -> dict[str, int]:
        return {c: v for (k, c), v in sorted(self.balances.items()) if k == key and v}
