"""The reference model's rules: what each kind of transaction does, and the code it ends with.

Written from the ledger's specification (README "How it fits together", DESIGN.md "Ledger",
and the rule list below), not from its code. Each rule is one function: a chain of checks
joined with `or`, the first failing one naming the code, and then the effect, so a failure
changes nothing. The order of the checks is part of the protocol (it decides which code a
client sees) and is listed here once:

    ADD_CURRENCY      governor; code unused
    SET_MINT_ALLOWANCE governor; currency known; the key is its issuer
    GRANT_ROLE        governor; not to oneself; not held yet
    REVOKE_ROLE       governor; held; not the last governor
    REGISTER          compliance (re-registering keeps the frozen flag)
    FREEZE, UNFREEZE  compliance; registered
    PAUSE, UNPAUSE    compliance; currency known
    MINT              currency known; issuer; not paused; recipient active; deposit ref
                      unused; within the allowance; outstanding supply and total minted bounded
    SETTLE            redemption pending; issuer of its currency; payout ref unused
    REJECT            redemption pending; issuer; the holder's balance bounded
    TRANSFER          currency known; not paused; sender active; recipient active; funds;
                      the recipient's balance bounded
    REDEEM            currency known; not paused; holder active; funds; no pending redemption
                      with this id

"Active" is registered, then not frozen, then KYC not expired (the height is at most the
participant's `kyc_expiry_height`). A settled or rejected redemption ignores pause, freeze
and KYC (incident handling must not be blocked); a rejected one returns to its holder.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.reference.codec import MAX_AMOUNT, MAX_U64, ModelTx
from sim.reference.state import Currency, ModelState, Participant, Redemption

OK = "OK"
Rule = Callable[[ModelState, ModelTx, int], str]


def _fail(condition: bool, code: str) -> str | None:
    return code if condition else None


def _inactive(s: ModelState, key: bytes, height: int) -> str | None:
    p = s.participants.get(key)
    if p is None:
        return "NOT_REGISTERED"
    return _fail(p.frozen, "ACCOUNT_FROZEN") or _fail(height > p.kyc_expiry_height, "KYC_EXPIRED")


def _not(s: ModelState, role: str, key: bytes) -> str | None:
    return _fail(not s.holds(role, key), "NOT_AUTHORIZED")


# ---------------------------------------------------------------- governor


def add_currency(s: ModelState, tx: ModelTx, height: int) -> str:
    code, scale, issuer = tx.fields
    assert isinstance(code, str) and isinstance(scale, int) and isinstance(issuer, bytes)
    failed = _not(s, "GOVERNOR", tx.signer) or _fail(code in s.currencies, "CURRENCY_EXISTS")
    if failed:
        return failed
    s.currencies[code] = Currency(scale, issuer)
    return OK


def set_allowance(s: ModelState, tx: ModelTx, height: int) -> str:
    issuer, code, amount = tx.fields
    assert isinstance(issuer, bytes) and isinstance(code, str) and isinstance(amount, int)
    c = s.currencies.get(code)
    failed = (
        _not(s, "GOVERNOR", tx.signer)
        or _fail(c is None, "UNKNOWN_CURRENCY")
        or _fail(c is not None and c.issuer != issuer, "NOT_ISSUER")
    )
    if failed:
        return failed
    s.set_allowance(issuer, code, amount)
    return OK


def grant_role(s: ModelState, tx: ModelTx, height: int) -> str:
    role, key = tx.fields
    assert isinstance(role, str) and isinstance(key, bytes)
    failed = (
        _not(s, "GOVERNOR", tx.signer)
        or _fail(key == tx.signer, "SELF_GRANT")
        or _fail(s.holds(role, key), "ROLE_ALREADY_HELD")
    )
    if failed:
        return failed
    s.grant(role, key)
    return OK


def revoke_role(s: ModelState, tx: ModelTx, height: int) -> str:
    role, key = tx.fields
    assert isinstance(role, str) and isinstance(key, bytes)
    failed = (
        _not(s, "GOVERNOR", tx.signer)
        or _fail(not s.holds(role, key), "ROLE_NOT_HELD")
        or _fail(role == "GOVERNOR" and len(s.roles[role]) == 1, "LAST_GOVERNOR")
    )
    if failed:
        return failed
    s.revoke(role, key)
    return OK


# ---------------------------------------------------------------- compliance


def register(s: ModelState, tx: ModelTx, height: int) -> str:
    key, name, kyc = tx.fields
    assert isinstance(key, bytes) and isinstance(name, str) and isinstance(kyc, int)
    failed = _not(s, "COMPLIANCE", tx.signer)
    if failed:
        return failed
    old = s.participants.get(key)
    s.participants[key] = Participant(name, kyc, old is not None and old.frozen)
    return OK


def _freezing(frozen: bool) -> Rule:
    def rule(s: ModelState, tx: ModelTx, height: int) -> str:
        (key,) = tx.fields
        assert isinstance(key, bytes)
        p = s.participants.get(key)
        failed = _not(s, "COMPLIANCE", tx.signer) or _fail(p is None, "NOT_REGISTERED")
        if failed:
            return failed
        assert p is not None
        p.frozen = frozen
        return OK

    return rule


def _pausing(paused: bool) -> Rule:
    def rule(s: ModelState, tx: ModelTx, height: int) -> str:
        (code,) = tx.fields
        assert isinstance(code, str)
        c = s.currencies.get(code)
        failed = _not(s, "COMPLIANCE", tx.signer) or _fail(c is None, "UNKNOWN_CURRENCY")
        if failed:
            return failed
        assert c is not None
        c.paused = paused
        return OK

    return rule


# ---------------------------------------------------------------- issuer


def mint(s: ModelState, tx: ModelTx, height: int) -> str:
    to, code, amount, ref = tx.fields
    assert isinstance(to, bytes) and isinstance(code, str) and isinstance(amount, int)
    assert isinstance(ref, str)
    c = s.currencies.get(code)
    if c is None:
        return "UNKNOWN_CURRENCY"
    allowance = s.allowance(tx.signer, code)
    failed = (
        _fail(c.issuer != tx.signer, "NOT_AUTHORIZED")
        or _fail(c.paused, "CURRENCY_PAUSED")
        or _inactive(s, to, height)
        or _fail((code, ref) in s.deposit_refs, "DEPOSIT_REF_USED")
        or _fail(amount > allowance, "ALLOWANCE_EXCEEDED")
        or _fail(c.outstanding + amount > MAX_AMOUNT or c.minted + amount > MAX_U64, "OVERFLOW")
    )
    if failed:
        return failed
    s.set_balance(to, code, s.balance(to, code) + amount)
    s.set_allowance(tx.signer, code, allowance - amount)
    c.minted += amount
    s.deposit_refs[(code, ref)] = height
    return OK


def _pending(s: ModelState, tx: ModelTx) -> tuple[Redemption | None, Currency | None, str | None]:
    rid = tx.fields[0]
    assert isinstance(rid, bytes)
    r = s.redemptions.get(rid)
    if r is None:
        return None, None, "UNKNOWN_REDEMPTION"
    c = s.currencies[r.currency]
    return r, c, _fail(c.issuer != tx.signer, "NOT_AUTHORIZED")


def settle(s: ModelState, tx: ModelTx, height: int) -> str:
    rid, ref = tx.fields
    assert isinstance(rid, bytes) and isinstance(ref, str)
    r, c, failed = _pending(s, tx)
    if failed:
        return failed
    assert r is not None and c is not None
    if (r.currency, ref) in s.payout_refs:
        return "PAYOUT_REF_USED"
    c.pending -= r.amount
    c.redeemed += r.amount
    del s.redemptions[rid]
    s.payout_refs[(r.currency, ref)] = height
    return OK


def reject(s: ModelState, tx: ModelTx, height: int) -> str:
    rid = tx.fields[0]
    assert isinstance(rid, bytes)
    r, c, failed = _pending(s, tx)
    if failed:
        return failed
    assert r is not None and c is not None
    if s.balance(r.holder, r.currency) + r.amount > MAX_AMOUNT:
        return "OVERFLOW"
    s.set_balance(r.holder, r.currency, s.balance(r.holder, r.currency) + r.amount)
    c.pending -= r.amount
    del s.redemptions[rid]
    return OK


# ---------------------------------------------------------------- participant


def _spendable(s: ModelState, code: str) -> str | None:
    c = s.currencies.get(code)
    if c is None:
        return "UNKNOWN_CURRENCY"
    return _fail(c.paused, "CURRENCY_PAUSED")


def transfer(s: ModelState, tx: ModelTx, height: int) -> str:
    sender, recipient, code, amount, _memo = tx.fields
    assert isinstance(sender, bytes) and isinstance(recipient, bytes)
    assert isinstance(code, str) and isinstance(amount, int)
    have, got = s.balance(sender, code), s.balance(recipient, code)
    failed = (
        _spendable(s, code)
        or _inactive(s, sender, height)
        or _inactive(s, recipient, height)
        or _fail(amount > have, "INSUFFICIENT_FUNDS")
        or _fail(got + amount > MAX_AMOUNT, "OVERFLOW")
    )
    if failed:
        return failed
    s.set_balance(sender, code, have - amount)
    s.set_balance(recipient, code, got + amount)
    return OK


def redeem(s: ModelState, tx: ModelTx, height: int) -> str:
    code, amount = tx.fields
    assert isinstance(code, str) and isinstance(amount, int)
    have = s.balance(tx.signer, code)
    failed = (
        _spendable(s, code)
        or _inactive(s, tx.signer, height)
        or _fail(amount > have, "INSUFFICIENT_FUNDS")
        or _fail(tx.tx_id in s.redemptions, "REDEMPTION_EXISTS")
    )
    if failed:
        return failed
    s.set_balance(tx.signer, code, have - amount)
    s.currencies[code].pending += amount
    s.redemptions[tx.tx_id] = Redemption(tx.signer, code, amount)
    return OK


RULES: dict[int, Rule] = {
    1: add_currency,
    2: set_allowance,
    3: grant_role,
    4: revoke_role,
    10: register,
    11: _freezing(True),
    12: _freezing(False),
    13: _pausing(True),
    14: _pausing(False),
    20: mint,
    21: settle,
    22: reject,
    30: transfer,
    31: redeem,
}
"""Wire tag -> its rule (the tags are those of `sim.reference.codec.KINDS`)."""


def apply(s: ModelState, tx: ModelTx, height: int) -> str:
    """Run `tx`'s rule at `height`: OK (and its effect) or the failure code (and nothing)."""
    return RULES[tx.kind](s, tx, height)
