"""A fast signature scheme for simulation only, still unforgeable inside the simulation.

A "signature" is a keyed blake2b MAC of the message under a secret that only the scheme object
and that key's own `FastSigner` hold. Verification recomputes the MAC, so it costs about a
microsecond instead of Ed25519's ~60. Byzantine strategy code is handed only its own
validator's signer, never the scheme's secrets, so it can sign as itself and as nobody else:
evidence against a correct validator can never be forged. Never use this outside `sim/`.
"""

from __future__ import annotations

import hashlib
import hmac
import random

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


class FastSigner:
    """Signs with one secret; exposes only the public key."""

    __slots__ = ("_public_key", "_secret")

    def __init__(self, public_key: bytes, secret: bytes) -> None:
        self._public_key = public_key
        self._secret = secret

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        return hashlib.blake2b(message, key=self._secret, digest_size=SIGNATURE_SIZE).digest()


class FastScheme:
    """Verifies MACs for the keys it issued; every other key is unknown and fails."""

    def __init__(self) -> None:
        self._secrets: dict[bytes, bytes] = {}

    def new_signer(self, rng: random.Random) -> FastSigner:
        """Issue a fresh key pair drawn from `rng` (deterministic per seed)."""
        secret = rng.getrandbits(256).to_bytes(32, "big")
        public_key = hashlib.blake2b(secret, digest_size=PUBLIC_KEY_SIZE, person=b"simkey").digest()
        if public_key in self._secrets:
            raise ValueError("duplicate simulated key")
        self._secrets[public_key] = secret
        return FastSigner(public_key, secret)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        secret = self._secrets.get(public_key)
        if secret is None or len(signature) != SIGNATURE_SIZE:
            return False
        expected = hashlib.blake2b(message, key=secret, digest_size=SIGNATURE_SIZE).digest()
        return hmac.compare_digest(expected, signature)
