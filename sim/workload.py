"""The client workload: real, signed deposit-token transactions, some of them invalid.

Mints by the issuer, transfers and redemptions by participants, settlements and rejections of
pending redemptions, and a share of transactions that must be refused or fail: bad signatures,
another chain's, expired, zero amounts, overdrafts. The generator is a pure function of its
random stream and the virtual time it is given, so a run's transactions are reproducible.
"""

from __future__ import annotations

import random

import attrs

from consensus.crypto import Signer
from ledger.signing import make_tx
from ledger.tx import (
    Body,
    Mint,
    Redeem,
    RejectRedemption,
    SettleRedemption,
    SignedTx,
    Transfer,
    derive_tx_id,
)
from ledger.txcodec import to_wire
from sim.stack import CURRENCIES, World


@attrs.define
class WorkloadStats:
    generated: int = 0
    invalid: int = 0
    admitted: int = 0
    refused: int = 0


class Workload:
    """Makes the next client transaction; the runner decides when and to whom it goes."""

    def __init__(self, world: World, rng: random.Random, invalid_pct: int) -> None:
        self._world = world
        self._rng = rng
        self._invalid_pct = invalid_pct
        self._deposits = 0
        self._redemptions: list[bytes] = []
        self.stats = WorkloadStats()

    def gap_ms(self, tx_per_s: int) -> int:
        """Virtual milliseconds until the next submission (exponential arrivals)."""
        return max(1, int(self._rng.expovariate(tx_per_s / 1000.0)))

    def next_tx(self, now_ms: int) -> bytes:
        rng = self._rng
        self.stats.generated += 1
        clients = self._world.clients
        parties = clients.participants
        currency = rng.choice(CURRENCIES)[0]
        roll = rng.random()
        signer = rng.choice(parties)
        body: Body
        if roll < 0.25:
            signer = clients.issuer
            self._deposits += 1
            body = Mint(
                rng.choice(parties).public_key,
                currency,
                rng.randint(1_000, 10**6),
                f"dep-{self._deposits}-{rng.getrandbits(32)}",
            )
        elif roll < 0.35:
            body = Redeem(currency, rng.randint(1, 5_000))
        elif roll < 0.42 and self._redemptions:
            signer = clients.issuer
            rid = self._redemptions.pop(0)
            body = (
                SettleRedemption(rid, f"pay-{rng.getrandbits(32)}")
                if rng.random() < 0.7
                else RejectRedemption(rid, "refused")
            )
        else:
            recipient = rng.choice([p for p in parties if p is not signer])
            body = Transfer(
                signer.public_key, recipient.public_key, currency, rng.randint(1, 20_000)
            )
        nonce = rng.randbytes(16)
        tx_id = derive_tx_id(signer.public_key, nonce)
        valid_until = now_ms + rng.randint(2_000, 60_000)
        if isinstance(body, Redeem):
            self._redemptions.append(tx_id)
            del self._redemptions[:-32]
        if rng.randrange(100) < self._invalid_pct:
            self.stats.invalid += 1
            return self._invalid(signer, body, nonce, now_ms)
        return make_tx(signer, self._world.chain_id, body, nonce=nonce, valid_until_ms=valid_until)

    def _invalid(self, signer: Signer, body: Body, nonce: bytes, now_ms: int) -> bytes:
        rng = self._rng
        kind = rng.randrange(4)
        chain = self._world.chain_id
        if kind == 0:  # a signature that is not the signer's
            key = signer.public_key
            tx = SignedTx(chain, nonce, key, now_ms + 10_000, body, rng.randbytes(64))
            return to_wire(tx)
        if kind == 1:  # signed for another network
            return make_tx(
                signer,
                "another-chain",
                body,
                nonce=nonce,
                valid_until_ms=now_ms + 10_000,
            )
        if kind == 2:  # expired long ago (or valid until too far ahead)
            window_ms = self._world.genesis.limits.max_validity_window_ms
            until = now_ms - 5_000 if now_ms > 5_000 else now_ms + 2 * window_ms
            return make_tx(
                signer,
                chain,
                body,
                nonce=nonce,
                valid_until_ms=until,
            )
        return rng.randbytes(rng.randrange(1, 300))  # not a transaction at all
