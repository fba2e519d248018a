"""The cost of one height of consensus: 4 validators, real Ed25519, in-memory delivery.

Every core signs its proposal and votes and verifies every message it receives, exactly as in a
node; only the network is a list. A second run swaps in a null signature scheme to show what the
state machine itself costs. Run from the repository root:

    python bench/consensus_height.py [--heights 300] [--validators 4]
"""

from __future__ import annotations

import argparse
import hashlib
import time

from consensus import events as ev
from consensus.core import ConsensusCore
from consensus.crypto import ED25519, Ed25519Signer, SignatureScheme, Signer
from consensus.messages import Proposal, Validator, ValidatorSet


class NullSigner:
    """Signs nothing: a constant signature, to measure the state machine alone."""

    def __init__(self, public_key: bytes) -> None:
        self.public_key = public_key

    def sign(self, message: bytes) -> bytes:
        return b"\x00" * 64


class NullScheme:
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return True


def run(heights: int, n: int, real: bool) -> float:
    """Seconds per height for `heights` heights."""
    ed = [Ed25519Signer(bytes([i + 1]) * 32) for i in range(n)]
    signers: list[Signer] = list(ed) if real else [NullSigner(s.public_key) for s in ed]
    scheme: SignatureScheme = ED25519 if real else NullScheme()
    vs = ValidatorSet(tuple(sorted((Validator(s.public_key, 10) for s in ed), key=_key)))
    cores = [
        ConsensusCore(chain_id="bench", validators=vs, signer=s, scheme=scheme) for s in signers
    ]
    start = time.perf_counter()
    for height in range(1, heights + 1):
        queue: list[tuple[int, ev.Event]] = []

        def execute(
            i: int,
            effects: list[ev.Effect],
            height: int = height,
            queue: list[tuple[int, ev.Event]] = queue,
        ) -> None:
            for e in effects:
                if isinstance(e, ev.Broadcast):
                    m = e.message
                    event: ev.Event = (
                        ev.ProposalReceived(m) if isinstance(m, Proposal) else ev.VoteReceived(m)
                    )
                    queue.extend((j, event) for j in range(n) if j != i)
                elif isinstance(e, ev.RequestProposalValue):
                    value = hashlib.sha256(b"%d" % height).digest()
                    queue.append((i, ev.ProposalValueSupplied(e.height, e.round, value)))
                elif isinstance(e, ev.RequestValidity):
                    queue.append((i, ev.ValidityVerdict(e.height, e.block_id, True)))

        for i, core in enumerate(cores):
            execute(i, core.start_height(height, 0))
        while queue:
            i, event = queue.pop(0)
            execute(i, cores[i].handle(event, 0))
        assert all(core.decided is not None for core in cores), "a height did not decide"
    return (time.perf_counter() - start) / heights


def _key(v: Validator) -> bytes:
    return v.public_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heights", type=int, default=300)
    parser.add_argument("--validators", type=int, default=4)
    args = parser.parse_args()
    real = run(args.heights, args.validators, real=True)
    null = run(args.heights, args.validators, real=False)
    print(f"validators={args.validators} heights={args.heights} (all {args.validators} cores)")
    print(f"one height, real Ed25519:        {real * 1e6:9.0f} us")
    print(f"one height, null signatures:     {null * 1e6:9.0f} us")
    print(f"one height, per validator (real): {real * 1e6 / args.validators:8.0f} us")


if __name__ == "__main__":
    main()
