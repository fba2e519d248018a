"""Client-side signing: turn an unsigned transaction into signed wire bytes.

Used by the SDK, the CLI, the simulator's workloads and the tests. The signature covers
`txcodec.sign_bytes_of(chain_id, unsigned)`: a domain tag, the chain id and every field, so a
transaction signed for one network is refused by every other.
"""

from __future__ import annotations

import os

from consensus.crypto import Signer
from ledger.tx import NONCE_SIZE, Body, SignedTx, UnsignedTx
from ledger.txcodec import sign_bytes_of, to_wire


def new_nonce() -> bytes:
    """A fresh random 16-byte nonce (clients may derive theirs from a payment reference)."""
    return os.urandom(NONCE_SIZE)


def sign(signer: Signer, chain_id: str, unsigned: UnsignedTx) -> SignedTx:
    """Sign `unsigned` with `signer` (whose key must be `unsigned.signer`)."""
    if unsigned.signer != signer.public_key:
        raise ValueError("unsigned.signer is not the signer's public key")
    signature = signer.sign(sign_bytes_of(chain_id, unsigned))
    return SignedTx(
        chain_id=chain_id,
        nonce=unsigned.nonce,
        signer=unsigned.signer,
        valid_until_ms=unsigned.valid_until_ms,
        body=unsigned.body,
        signature=signature,
    )


def sign_tx(signer: Signer, chain_id: str, unsigned: UnsignedTx) -> bytes:
    """The signed wire bytes of `unsigned` (what a client submits)."""
    return to_wire(sign(signer, chain_id, unsigned))


def make_tx(
    signer: Signer,
    chain_id: str,
    body: Body,
    *,
    nonce: bytes,
    valid_until_ms: int,
) -> bytes:
    """Build, sign and encode a transaction of `body` from `signer` in one call (its id is
    `derive_tx_id(signer.public_key, nonce)`)."""
    unsigned = UnsignedTx(nonce, signer.public_key, valid_until_ms, body)
    return sign_tx(signer, chain_id, unsigned)
