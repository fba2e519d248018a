"""Shared test fixtures for the ledger: deterministic keys, a small genesis, a tx factory."""

from __future__ import annotations

import hashlib

from consensus.crypto import Ed25519Signer
from ledger.app import LedgerApp
from ledger.genesis import Genesis, GenesisCurrency, GenesisValidator, Limits
from ledger.signing import make_tx
from ledger.tx import Body

CHAIN = "test-chain"


def signer(name: str) -> Ed25519Signer:
    """A deterministic key named `name` (seeded from its name, never random)."""
    return Ed25519Signer(hashlib.blake2b(name.encode(), digest_size=32).digest())


GOV = signer("governor")
COMP = signer("compliance")
USD_ISSUER = signer("issuer-usd")
EUR_ISSUER = signer("issuer-eur")
ALICE = signer("alice")
BOB = signer("bob")
CAROL = signer("carol")
VALIDATORS = [signer(f"validator-{i}") for i in range(4)]


def genesis(**limits: int) -> Genesis:
    return Genesis(
        chain_id=CHAIN,
        validators=tuple(
            GenesisValidator(f"v{i}", v.public_key, 10) for i, v in enumerate(VALIDATORS)
        ),
        currencies=(
            GenesisCurrency("USD", 2, USD_ISSUER.public_key, 10**12),
            GenesisCurrency("EUR", 2, EUR_ISSUER.public_key, 0),
        ),
        governors=(GOV.public_key,),
        compliance=(COMP.public_key,),
        limits=Limits(**limits),
    )


BLOCK_MS = 1_000
"""Test chains stamp block h with time h * BLOCK_MS, so times read as heights."""


def block_time(height: int) -> int:
    return height * BLOCK_MS


class TxFactory:
    """Signs transactions with fresh, deterministic tx_ids (a counter)."""

    def __init__(self, chain_id: str = CHAIN, valid_until_ms: int = block_time(50)) -> None:
        self.chain_id = chain_id
        self.valid_until_ms = valid_until_ms
        self.counter = 0

    def next_id(self) -> bytes:
        self.counter += 1
        return self.counter.to_bytes(16, "big")

    def __call__(
        self,
        who: Ed25519Signer,
        body: Body,
        *,
        nonce: bytes | None = None,
        valid_until_ms: int | None = None,
        chain_id: str | None = None,
    ) -> bytes:
        return make_tx(
            who,
            chain_id or self.chain_id,
            body,
            nonce=nonce if nonce is not None else self.next_id(),
            valid_until_ms=valid_until_ms if valid_until_ms is not None else self.valid_until_ms,
        )


def commit(app: LedgerApp, txs: list[bytes]) -> list[str]:
    """Validate, execute and apply one block (time `block_time(height)`); the result codes."""
    height = app.height + 1
    reason = app.validate_block_txs(height, block_time(height), txs)
    assert reason is None, reason
    execution = app.execute_block(height, block_time(height), txs)
    app.apply(execution)
    return [r.code for r in execution.results]
