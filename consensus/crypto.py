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

DEFAULT_VERIFIED_ENTRIES = 100_000


class VerifyMemo:
    """A `SignatureScheme` that remembers `scheme`'s verdicts by (key, message, signature).

    Why: the same signed vote is checked by every validator that receives it, again when it
    comes back inside the next block's last commit, and by the simulator's checkers; a verdict
    is a pure function of those three byte strings, so it is computed once. A hit returns
    exactly what `scheme` returned for the same bytes (True or False), so no check is skipped.
    Only exact `bytes` arguments are memoised (anything else goes to `scheme` as it is), and
    the memo is bounded: it is cleared when `max_entries` verdicts are held.
    """

    scheme: SignatureScheme

    def __init__(self, scheme: SignatureScheme, max_entries: int = DEFAULT_VERIFIED_ENTRIES):
        if isinstance(scheme, VerifyMemo):
            scheme = scheme.scheme
        self.scheme = scheme
        self._max_entries = max_entries
        self._verdicts: dict[tuple[bytes, bytes, bytes], bool] = {}

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if type(public_key) is not bytes or type(message) is not bytes:
            return self.scheme.verify(public_key, message, signature)
        if type(signature) is not bytes:
            return self.scheme.verify(public_key, message, signature)
        key = (public_key, message, signature)
        known = self._verdicts.get(key)
        if known is None:
            known = self.scheme.verify(public_key, message, signature)
            if len(self._verdicts) >= self._max_entries:
                self._verdicts.clear()
            self._verdicts[key] = known
        return known
