"""Transactions no valid block may hold: each way an envelope can be wrong, one at a time.

A correct validator refuses every one of these at submission with a stable code, and a block
holding one is invalid (the reference model says which, independently). Some are not even
transactions (garbage, truncated, trailing bytes, a non-canonical encoding), some are signed
by the client but break a chain rule (another chain, expired, too far ahead, a bad field, a
self-transfer, someone else's transfer, an oversized memo), one carries a signature that is
not the signer's.
"""

from __future__ import annotations

import random

import attrs

from consensus.crypto import Signer
from ledger.signing import make_tx
from ledger.tx import Body, SignedTx, Transfer
from ledger.txcodec import to_wire
from sim.stack import World

KINDS = (
    "garbage",
    "truncated",
    "trailing",
    "non_canonical",
    "bad_signature",
    "other_chain",
    "expired",
    "too_far_ahead",
    "bad_field",
    "self_transfer",
    "not_owner",
    "memo_too_large",
)
SIGNED = frozenset(KINDS[5:])
"""Kinds whose bytes the client itself signed (the others are not, or not its own)."""


@attrs.frozen
class Envelope:
    kind: str
    raw: bytes


def bad_envelope(
    rng: random.Random, world: World, signer: Signer, body: Body, nonce: bytes, now_ms: int
) -> Envelope:
    """One refused envelope around `body` (kind drawn from `rng`)."""
    chain = world.chain_id
    limits = world.genesis.limits
    kind = rng.choice(KINDS)
    until = now_ms + rng.randint(5_000, 30_000)
    key = signer.public_key

    def signed(b: Body = body, *, chain_id: str = chain, valid_until_ms: int = until) -> bytes:
        return make_tx(signer, chain_id, b, nonce=nonce, valid_until_ms=valid_until_ms)

    if kind == "garbage":
        raw = rng.randbytes(rng.randrange(1, 300))
    elif kind == "truncated":
        good = signed()
        raw = good[: rng.randrange(1, len(good))]
    elif kind == "trailing":
        raw = signed() + bytes([rng.randrange(256)])
    elif kind == "non_canonical":  # the version 2 as a uint8 (0xcc 0x02) instead of a fixint
        good = signed()
        raw = good[:1] + b"\xcc" + good[1:]
    elif kind == "bad_signature":
        raw = to_wire(SignedTx(chain, nonce, key, until, body, rng.randbytes(64)))
    elif kind == "other_chain":
        raw = signed(chain_id="another-chain")
    elif kind == "expired":
        raw = signed(valid_until_ms=max(0, now_ms - rng.randint(1, 5_000)))
    elif kind == "too_far_ahead":
        raw = signed(valid_until_ms=now_ms + limits.max_validity_window_ms + rng.randint(1, 10**5))
    elif kind == "bad_field":
        raw = signed(Transfer(key, rng.randbytes(32), "USD", rng.choice((0, -5, 2**63))))
    elif kind == "self_transfer":
        raw = signed(Transfer(key, key, "USD", 1))
    elif kind == "not_owner":
        raw = signed(Transfer(rng.randbytes(32), key, "USD", 1))
    else:
        raw = signed(Transfer(key, rng.randbytes(32), "USD", 1, "m" * (limits.max_memo_bytes + 1)))
    return Envelope(kind, raw)
