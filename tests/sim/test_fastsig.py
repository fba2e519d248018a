from __future__ import annotations

import random

from consensus.crypto import ED25519
from sim.fastsig import FastScheme


def test_a_signature_verifies_only_for_its_key_and_message() -> None:
    scheme = FastScheme()
    rng = random.Random(1)
    alice, bob = scheme.new_signer(rng), scheme.new_signer(rng)
    sig = alice.sign(b"vote")
    assert len(alice.public_key) == 32 and len(sig) == 64
    assert scheme.verify(alice.public_key, b"vote", sig)
    assert not scheme.verify(alice.public_key, b"vote!", sig)
    assert not scheme.verify(bob.public_key, b"vote", sig)
    assert not scheme.verify(alice.public_key, b"vote", sig[:-1] + bytes([sig[-1] ^ 1]))
    assert not scheme.verify(alice.public_key, b"vote", sig[:63])


def test_another_validator_cannot_forge_and_unknown_keys_never_verify() -> None:
    scheme = FastScheme()
    rng = random.Random(2)
    honest, byzantine = scheme.new_signer(rng), scheme.new_signer(rng)
    # The Byzantine signer holds only its own secret: its best try at the honest key fails.
    forged = byzantine.sign(b"precommit")
    assert not scheme.verify(honest.public_key, b"precommit", forged)
    assert not scheme.verify(bytes(32), b"precommit", forged)
    # Keys from another scheme object (another run) are unknown here.
    other = FastScheme().new_signer(random.Random(99))
    assert not scheme.verify(other.public_key, b"x", other.sign(b"x"))


def test_keys_are_deterministic_per_stream_and_distinct_from_ed25519() -> None:
    a = FastScheme().new_signer(random.Random(9))
    b = FastScheme().new_signer(random.Random(9))
    assert a.public_key == b.public_key and a.sign(b"m") == b.sign(b"m")
    assert not ED25519.verify(a.public_key, b"m", a.sign(b"m"))
