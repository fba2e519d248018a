"""Keys and signatures on the client's side: key files, and signing a body into wire bytes."""

from __future__ import annotations

from pathlib import Path

from consensus.crypto import Ed25519Signer, Signer
from ledger.signing import make_tx, new_nonce
from ledger.tx import NONCE_SIZE, Body, derive_tx_id
from network.client_errors import ClientError


def generate_signer(path: str | Path | None = None) -> Ed25519Signer:
    """A fresh Ed25519 key; written to `path` (network.keys' file format, mode 0600) if given."""
    from network.keys import KeyFileError, generate_key

    if path is None:
        return Ed25519Signer.generate()
    try:
        return generate_key(path)
    except (KeyFileError, OSError) as exc:
        raise ClientError(str(exc)) from None


def load_signer(path: str | Path) -> Signer:
    """The signing key in the key file at `path` (network.keys' format)."""
    from network.keys import KeyFileError, load_key

    try:
        return load_key(path)
    except (KeyFileError, OSError) as exc:
        raise ClientError(str(exc)) from None


def sign_body(
    signer: Signer,
    chain_id: str,
    body: Body,
    *,
    valid_until_ms: int,
    nonce: bytes | None = None,
) -> tuple[bytes, bytes]:
    """(tx_id, signed wire bytes) of `body` from `signer` with `nonce` (random if None)."""
    nonce = new_nonce() if nonce is None else nonce
    if len(nonce) != NONCE_SIZE:
        raise ClientError(f"a nonce is {NONCE_SIZE} bytes")
    wire = make_tx(signer, chain_id, body, nonce=nonce, valid_until_ms=valid_until_ms)
    return derive_tx_id(signer.public_key, nonce), wire
