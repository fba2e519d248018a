"""What the simulated clients ask the ledger to do: every kind of transaction, valid and invalid.

Why aim: a workload of random transfers never freezes, pauses, grants a role or runs out of an
allowance, so whole compliance paths would never run in the simulator. Each action is chosen
by the run's workload stream and aimed with the committed state as the reference model sees
it (who holds which role, who is frozen, what is pending), so that both the valid form and
each refused form of every kind keep turning up:

    transfer   ok; insufficient funds; to an unregistered key; frozen or KYC-expired party;
               paused or unknown currency
    mint       ok; allowance exceeded; deposit ref reused; not the issuer; unregistered
               recipient; supply overflow (currencies added with the largest allowance)
    redeem     ok; insufficient funds
    settle     ok; payout ref reused; unknown redemption; not the issuer   (reject likewise)
    compliance freeze / unfreeze, pause / unpause, register (newcomers whose KYC expires a few
               heights later, renewals), and their refusals (unknown participant, not
               compliance)
    governor   add currency (new, existing), set an allowance (ok, not the issuer, unknown
               currency), grant (ok, already held, to oneself), revoke (ok, not held, the last
               governor)

The state read may lag what is pending; that only changes which outcome a transaction gets,
and the reference model judges every outcome anyway. Keys that hold a role are only ever
spare keys, so the original governor and compliance officer stay in office (unless a spare
governor revokes them, which is allowed: the workload then signs with whoever holds the role).
"""

from __future__ import annotations

import random

import attrs

from consensus.crypto import Signer
from ledger.tx import (
    AddCurrency,
    Body,
    Freeze,
    GrantRole,
    Mint,
    Pause,
    Redeem,
    RegisterParticipant,
    RejectRedemption,
    RevokeRole,
    SetMintAllowance,
    SettleRedemption,
    Transfer,
    Unfreeze,
    Unpause,
)
from sim.reference import ReferenceLedger
from sim.reference.codec import MAX_AMOUNT
from sim.stack import World

NEW_CODES = ("GBP", "CHF", "JPY", "SGD", "CAD", "AUD")
UNKNOWN_CODE = "XTS"  # never added: the ISO code reserved for testing
FOREVER = 10**9  # a KYC expiry height no run reaches


@attrs.frozen
class Intent:
    signer: Signer
    body: Body


class Actions:
    """Chooses the next transaction (see the module docstring)."""

    def __init__(self, world: World, rng: random.Random, view: ReferenceLedger) -> None:
        self._rng = rng
        self._view = view
        clients = world.clients
        self._clients = clients
        self._keys: dict[bytes, Signer] = {s.public_key: s for s in clients.all()}
        self._count = 0
        self._resolving: set[bytes] = set()  # redemptions already settled or rejected once

    def _ref(self, what: str) -> str:
        self._count += 1
        return f"{what}-{self._count}-{self._rng.getrandbits(24):06x}"

    def _holder(self, role: str) -> Signer | None:
        keys = sorted(k for k in self._view.state.roles.get(role, ()) if k in self._keys)
        return self._keys[self._rng.choice(keys)] if keys else None

    def _participants(self) -> list[bytes]:
        return sorted(k for k in self._view.state.participants if k in self._keys)

    def _outsider(self) -> bytes:
        """One of our keys that is not a registered participant (any of ours if all are)."""
        out = sorted(k for k in self._keys if k not in self._view.state.participants)
        return self._rng.choice(out or sorted(self._keys))

    def next(self) -> Intent:
        roll = self._rng.randrange(100)
        if roll < 40:
            if not self._view.state.balances:
                return self.mint()  # nobody holds anything yet
            return self.transfer()
        if roll < 56:
            return self.mint()
        if roll < 64:
            return self.redeem()
        if roll < 72:
            return self.resolve()
        if roll < 85:
            return self.compliance() or self.transfer()
        if roll < 95:
            return self.governor() or self.transfer()
        return self.unauthorized()

    # ------------------------------------------------------------ participants

    def _currency(self) -> str:
        rng = self._rng
        roll = rng.random()
        if roll < 0.05:
            return UNKNOWN_CODE
        codes = sorted(self._view.state.currencies)
        if roll < 0.8 and {"USD", "EUR"} <= set(codes):
            return rng.choice(("USD", "EUR"))
        return rng.choice(codes) if codes else "USD"

    def _amount(self, balance: int) -> int:
        rng = self._rng
        if rng.random() < 0.12 or balance == 0:
            return min(MAX_AMOUNT, balance + rng.randint(1, 10**6))
        return rng.randint(1, max(1, balance // 3))

    def _payer(self, code: str) -> bytes:
        """Mostly someone who holds `code`, now and then anyone."""
        parties = self._participants() or [p.public_key for p in self._clients.participants]
        funded = [k for k in parties if self._view.state.balance(k, code)]
        return self._rng.choice(funded if funded and self._rng.random() < 0.85 else parties)

    def transfer(self) -> Intent:
        rng, state = self._rng, self._view.state
        code = self._currency()
        sender = self._payer(code)
        others = [k for k in self._participants() if k != sender]
        recipient = rng.choice(others) if others and rng.random() < 0.9 else self._outsider()
        if recipient == sender:
            recipient = self._outsider()
        amount = self._amount(state.balance(sender, code))
        memo = "" if rng.random() < 0.8 else f"inv-{rng.randrange(10**6)}"
        return Intent(self._keys[sender], Transfer(sender, recipient, code, amount, memo))

    def redeem(self) -> Intent:
        code = self._currency()
        holder = self._payer(code)
        amount = self._amount(self._view.state.balance(holder, code))
        return Intent(self._keys[holder], Redeem(code, amount))

    # ------------------------------------------------------------ issuers

    def mint(self) -> Intent:
        rng, state = self._rng, self._view.state
        code = self._currency()
        big = sorted(c for (_, c), a in state.allowances.items() if a > MAX_AMOUNT // 4)
        if big and rng.random() < 0.15:
            code = rng.choice(big)
        currency = state.currencies.get(code)
        issuer = self._keys.get(currency.issuer) if currency else None
        signer = issuer or self._clients.issuer
        if rng.random() < 0.05:
            signer = self._keys[rng.choice(self._participants() or [self._outsider()])]
        parties = self._participants()
        to = rng.choice(parties) if parties and rng.random() < 0.9 else self._outsider()
        allowance = state.allowance(signer.public_key, code)
        roll = rng.random()
        if allowance > MAX_AMOUNT // 4:  # a currency added for overflow: mint big
            amount = rng.randint(MAX_AMOUNT // 3, MAX_AMOUNT // 2)
        elif roll < 0.06 and allowance < MAX_AMOUNT:
            amount = allowance + 1
        else:
            amount = rng.randint(1_000, 10**6)
        used = sorted(ref for c, ref in state.deposit_refs if c == code)
        ref = rng.choice(used) if used and roll > 0.92 else self._ref("dep")
        return Intent(signer, Mint(to, code, amount, ref))

    def resolve(self) -> Intent:
        rng, state = self._rng, self._view.state
        pending = sorted(state.redemptions)
        fresh = [rid for rid in pending if rid not in self._resolving]
        if not fresh and rng.random() < 0.85:
            return self.redeem()  # none pending, or every pending one is being resolved
        if not pending or rng.random() < 0.08:
            rid, code = rng.randbytes(16), "USD"
        else:
            rid = rng.choice(fresh if fresh and rng.random() < 0.9 else pending)
            code = state.redemptions[rid].currency
        self._resolving.add(rid)
        currency = state.currencies.get(code)
        signer = self._keys.get(currency.issuer if currency else b"", self._clients.issuer)
        if rng.random() < 0.05:
            signer = self._clients.compliance
        roll = rng.random()
        if roll < 0.25:
            return Intent(signer, RejectRedemption(rid, "refused by the bank"))
        used = sorted(ref for c, ref in state.payout_refs if c == code)
        ref = rng.choice(used) if used and roll > 0.88 else self._ref("pay")
        return Intent(signer, SettleRedemption(rid, ref))

    # ------------------------------------------------------------ compliance

    def compliance(self) -> Intent | None:
        rng, state = self._rng, self._view.state
        officer = self._holder("COMPLIANCE")
        if officer is None:
            return None
        frozen = sorted(k for k, p in state.participants.items() if p.frozen)
        paused = sorted(c for c, cur in state.currencies.items() if cur.paused)
        height = self._view.height
        expired = sorted(k for k, p in state.participants.items() if p.kyc_expiry_height < height)
        body: Body
        roll = rng.random()
        if paused and rng.random() < 0.6:
            body = Unpause(rng.choice(paused))
        elif frozen and rng.random() < 0.5:
            body = Unfreeze(rng.choice(frozen))
        elif expired and rng.random() < 0.3:
            body = RegisterParticipant(rng.choice(expired), "renewed", FOREVER)
        elif roll < 0.22:
            parties = self._participants()
            key = rng.choice(parties) if parties and rng.random() < 0.9 else self._outsider()
            body = Freeze(key) if rng.random() < 0.8 else Unfreeze(key)
        elif roll < 0.28:
            code = UNKNOWN_CODE if rng.random() < 0.1 else rng.choice(sorted(state.currencies))
            body = Pause(code)
        else:
            key = rng.choice([s.public_key for s in self._clients.spares])
            if rng.random() < 0.3:
                key = rng.choice(self._participants() or [key])
            expiry = height + rng.randint(2, 12) if rng.random() < 0.7 else FOREVER
            body = RegisterParticipant(key, f"newcomer-{key[:2].hex()}", expiry)
        return Intent(officer, body)

    # ------------------------------------------------------------ governors

    def governor(self) -> Intent | None:
        rng, state = self._rng, self._view.state
        governor = self._holder("GOVERNOR")
        if governor is None:
            return None
        spares = [s.public_key for s in self._clients.spares]
        roll = rng.random()
        body: Body
        if roll < 0.2:
            unused = [c for c in NEW_CODES if c not in state.currencies]
            code = rng.choice(unused) if unused and rng.random() < 0.7 else "USD"
            issuer = rng.choice([self._clients.issuer.public_key, *spares])
            body = AddCurrency(code, rng.choice((0, 2, 8)), issuer)
        elif roll < 0.45:
            code = UNKNOWN_CODE if rng.random() < 0.1 else rng.choice(sorted(state.currencies))
            minted = sorted(c for c, cur in state.currencies.items() if cur.minted > 2**61)
            if minted and rng.random() < 0.4:
                code = rng.choice(minted)  # top the allowance up again: the supply overflows
            currency = state.currencies.get(code)
            issuer = currency.issuer if currency else self._clients.issuer.public_key
            if rng.random() < 0.15:
                issuer = rng.choice(spares)
            big = code not in ("USD", "EUR") and rng.random() < 0.6
            amount = MAX_AMOUNT if big else rng.randint(10**12, 10**15)
            body = SetMintAllowance(issuer, code, amount)
        elif roll < 0.75:
            role = rng.choice(("GOVERNOR", "COMPLIANCE"))
            originals = [self._clients.governor.public_key, self._clients.compliance.public_key]
            key = governor.public_key if rng.random() < 0.15 else rng.choice(spares + originals)
            body = GrantRole(role, key)
        else:
            role = rng.choice(("GOVERNOR", "COMPLIANCE"))
            holders = sorted(state.roles.get(role, ()))
            if role == "GOVERNOR" and holders == [governor.public_key]:
                key = governor.public_key  # the last governor: refused
            else:
                key = rng.choice(spares)
            body = RevokeRole(role, key)
        return Intent(governor, body)

    def unauthorized(self) -> Intent:
        """A privileged transaction signed by a participant: NOT_AUTHORIZED."""
        rng = self._rng
        signer = self._keys[rng.choice(self._participants() or [self._outsider()])]
        key = rng.choice(self._participants() or [self._outsider()])
        body = rng.choice(
            (
                Freeze(key),
                Pause("USD"),
                Unpause("EUR"),
                Unfreeze(key),
                AddCurrency(rng.choice(NEW_CODES), 2, signer.public_key),
                GrantRole("COMPLIANCE", self._clients.compliance.public_key),
                SetMintAllowance(self._clients.issuer.public_key, "USD", 1),
                RegisterParticipant(signer.public_key, "self", FOREVER),
            )
        )
        return Intent(signer, body)
