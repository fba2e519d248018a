"""Messages that were really signed, sent where they do not belong: `replay` and `cross_chain`.

`replay` (the height check of admission). The replayer keeps the votes and proposals of the last
few heights that pass through it (its own, the precommits of every certificate it commits, the
votes it serves to peers) and, while voting at height h, re-sends some of heights h-3 .. h-1
verbatim to everyone. The signatures are real; the messages are simply late. A correct replica
drops them; one that counted a vote of height h-1 in height h would find the vote "conflicting"
with the same validator's vote of height h, and report a correct validator as an equivocator.

`cross_chain` (the chain id in sign bytes). Banks reuse validator keys across chains (a testnet
beside the production chain, say): the `SisterChain` is such a chain, on which the same
validators vote, honestly, one vote per (height, round, type), for the sister chain's blocks.
Its messages are public there. The cross-chain replayer re-sends the sister chain's votes of
every other validator for the (height, round, type) it is voting in, and signs some of its own
messages for the sister chain too. Sign bytes that carry the chain id make all of them
unverifiable here; without it, each would count as a second vote of a correct validator.
"""

from __future__ import annotations

import hashlib

import attrs

from consensus import codec
from consensus.codec import DecodeError
from consensus.crypto import Signer
from consensus.messages import BlockId, Vote, VoteType
from consensus.replica.events import BroadcastPayload, CommitBlock, ReplicaEffect, SendTo
from consensus.replica.wire import ProposalMsg, VoteMsg, encode_wire
from consensus.signing import sign_proposal, sign_vote
from sim.strategy import Strategy, decode

SISTER_CHAIN_ID = "depositnet-sister"
REPLAY_DEPTH = 3
"""Heights below the current one whose messages the replayer keeps and re-sends."""
MAX_KEPT_PER_HEIGHT = 200
REPLAY_BATCH = 6
"""Old messages re-sent each time the replayer votes (when it does)."""


class SisterChain:
    """Votes the validators of this run sign on a sister chain with the same keys.

    The sister chain is honest: at (height, round) every validator votes for the same sister
    block, so each key signs one vote per (height, round, type) there, as a correct validator
    does. The signers stay inside; callers get signed votes only."""

    def __init__(self, signers: tuple[Signer, ...]) -> None:
        self._signers = signers

    @staticmethod
    def block_id(height: int, round: int) -> BlockId:
        return hashlib.blake2b(f"sister:{height}:{round}".encode(), digest_size=32).digest()

    def votes(self, height: int, round: int, vote_type: VoteType) -> tuple[Vote, ...]:
        value = self.block_id(height, round)
        return tuple(
            sign_vote(s, SISTER_CHAIN_ID, Vote(vote_type, height, round, value, s.public_key))
            for s in self._signers
        )


class CrossChain(Strategy):
    """`cross_chain`: the sister chain's votes, and our own messages signed for it."""

    def outgoing(self, effects: list[ReplicaEffect]) -> list[ReplicaEffect]:
        out = list(effects)
        for effect in effects:
            if not isinstance(effect, BroadcastPayload):
                continue
            msg = self._own(effect.payload)
            if isinstance(msg, VoteMsg):
                out += self._sister_votes(msg.vote)
            if isinstance(msg, VoteMsg | ProposalMsg) and self.rng.random() < 0.3:
                out.append(SendTo(self.rng.choice(self.peers), self._resigned(msg)))
                self.sent += 1
        return out

    def _sister_votes(self, vote: Vote) -> list[ReplicaEffect]:
        """The other validators' sister-chain votes for our vote's (height, round, type)."""
        context = self.context
        if context is None or context.sister_votes is None or self.rng.random() >= 0.6:
            return []
        found = context.sister_votes(vote.height, vote.round, vote.type)
        theirs = [v for v in found if v.validator != self.key]
        self.sent += len(theirs) * len(self.peers)
        return [BroadcastPayload(encode_wire(VoteMsg(v))) for v in theirs]

    def _resigned(self, msg: VoteMsg | ProposalMsg) -> bytes:
        """Our own message, signed for the sister chain instead of this one."""
        if isinstance(msg, VoteMsg):
            return encode_wire(VoteMsg(sign_vote(self.signer, SISTER_CHAIN_ID, msg.vote)))
        signed = sign_proposal(self.signer, SISTER_CHAIN_ID, msg.proposal)
        return encode_wire(ProposalMsg(signed, msg.block))


@attrs.define
class Replay(Strategy):
    """`replay`: old heights' messages, re-sent verbatim (see the module doc)."""

    kept: dict[int, dict[bytes, None]] = attrs.field(factory=dict)  # height -> payloads, in order
    height: int = 0

    def outgoing(self, effects: list[ReplicaEffect]) -> list[ReplicaEffect]:
        out = list(effects)
        for effect in effects:
            if isinstance(effect, CommitBlock):
                self._keep_certificate(effect.record.height, effect.record.commit)
                continue
            if not isinstance(effect, SendTo | BroadcastPayload):
                continue
            msg = decode(effect.payload)
            if isinstance(msg, VoteMsg | ProposalMsg):
                value = msg.vote if isinstance(msg, VoteMsg) else msg.proposal
                self._keep(value.height, effect.payload)
                own = isinstance(msg, VoteMsg) and msg.vote.validator == self.key
                if own and self.rng.random() < 0.5:
                    out += self._replays(value.height)
        return out

    def _keep_certificate(self, height: int, raw: bytes) -> None:
        try:
            commit = codec.decode_commit(raw)
        except DecodeError:
            return
        for vote in commit.precommits:
            self._keep(height, encode_wire(VoteMsg(vote)))

    def _keep(self, height: int, payload: bytes) -> None:
        if height > self.height:
            self.height = height
            for old in [h for h in self.kept if h < height - REPLAY_DEPTH]:
                del self.kept[old]
        if height < self.height - REPLAY_DEPTH:
            return
        kept = self.kept.setdefault(height, {})
        if len(kept) < MAX_KEPT_PER_HEIGHT:
            kept[payload] = None

    def _replays(self, height: int) -> list[ReplicaEffect]:
        """Some messages of the heights below `height`, the one just below most often."""
        older = [h for h in sorted(self.kept) if h < height]
        if not older:
            return []
        out: list[ReplicaEffect] = []
        for _ in range(REPLAY_BATCH):
            h = older[-1] if self.rng.random() < 0.7 else self.rng.choice(older)
            payloads = list(self.kept[h])
            out.append(BroadcastPayload(self.rng.choice(payloads)))
        self.sent += len(out) * len(self.peers)
        return out
