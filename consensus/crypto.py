"""Signature schemes behind two small protocols, so the simulator can swap in a fast one.

The core signs through a `Signer` and checks through a `SignatureScheme`; it never touches key
material formats. Ed25519 (pynacl) is the production scheme.
"""

from __future__ import annotations

from typing import Protocol

import nacl.bindings
import nacl.exceptions
import nacl.signing


class Signer(Protocol):
    @property
    def public_key(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte signature of `message`."""
        ...


class SignatureScheme(Protocol):
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True iff `signature` is `public_key`'s signature of `message`. Never raises."""
        ...


class Ed25519Signer:
    """A signer holding an Ed25519 seed in memory."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = nacl.signing.SigningKey(seed)
        self._public_key = bytes(self._key.verify_key)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def sign(self, message: bytes) -> bytes:
        return bytes(self._key.sign(message).signature)


class Ed25519Scheme:
    """Ed25519 verification with pynacl (libsodium)."""

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(public_key) != 32 or len(signature) != 64:
            return False
        try:  # the binding directly: a VerifyKey object per call costs more than the call
            nacl.bindings.crypto_sign_open(signature + message, public_key)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError):
            return False
        return True


ED25519 = Ed25519Scheme()
