"""What every Byzantine strategy plug-in shares: the base class and what a strategy may know.

A strategy sits between its validator's honest replica and the network: `incoming` sees every
message the validator receives, and `outgoing` sees every effect the replica emits (its own
signed messages, the blocks it commits, its answers to peers) and returns what actually happens
instead. It holds only its own validator's signer
(never the simulator's scheme), so whatever it sends is signed as itself: it can lie,
equivocate, replay and flood, but never forge a correct validator's message on this chain.

`StrategyContext` is the public knowledge a strategy may use besides: the validator set (powers,
hence proposer(h, r)) and the `SisterChain`, the messages the same validators signed on another
chain (see `sim.replays`). Both are public in a real deployment.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from consensus.codec import DecodeError
from consensus.crypto import Signer
from consensus.messages import ValidatorSet, Vote, VoteType
from consensus.proposer import proposer
from consensus.replica.events import ReplicaEffect
from consensus.replica.wire import ProposalMsg, VoteMsg, WireMessage, decode_wire

SisterVotes = Callable[[int, int, VoteType], tuple[Vote, ...]]
"""(height, round, type) -> every validator's vote at that slot on the sister chain."""


@attrs.frozen
class StrategyContext:
    """Public knowledge: the validator set, and votes the same keys signed on a sister chain."""

    validators: ValidatorSet
    sister_votes: SisterVotes | None = None


@attrs.define
class Strategy:
    """The default: pass every effect through unchanged."""

    name: str
    signer: Signer
    chain_id: str
    peers: tuple[bytes, ...]  # every other validator key, sorted
    rng: random.Random
    context: StrategyContext | None = None
    sent: int = 0  # Byzantine messages injected

    def incoming(self, payload: bytes) -> None:
        """A message reached this validator (its replica gets it next, unless it is paused)."""

    def outgoing(self, effects: list[ReplicaEffect]) -> list[ReplicaEffect]:
        return effects

    def wants_amnesia(self, locked_round: int) -> bool:
        return False

    @property
    def key(self) -> bytes:
        return self.signer.public_key

    def _halves(self) -> tuple[list[bytes], list[bytes]]:
        peers = list(self.peers)
        self.rng.shuffle(peers)
        cut = len(peers) // 2
        return sorted(peers[:cut]), sorted(peers[cut:])

    def _own(self, payload: bytes) -> WireMessage | None:
        """`payload` decoded if it is a vote or proposal signed by this validator."""
        msg = decode(payload)
        if isinstance(msg, VoteMsg) and msg.vote.validator == self.key:
            return msg
        if isinstance(msg, ProposalMsg) and msg.proposal.proposer == self.key:
            return msg
        return None

    def _proposes(self, height: int, round: int) -> bool:
        """True if this validator is proposer(height, round) (False without a context)."""
        if self.context is None:
            return False
        return proposer(self.context.validators, height, round) == self.key


def decode(payload: bytes) -> WireMessage | None:
    """A wire message, or None for bytes that do not decode."""
    try:
        return decode_wire(payload)
    except DecodeError:
        return None
