"""Byzantine strategy plug-ins: honest replica code whose outgoing effects are rewritten.

A strategy holds only its own validator's signer (never the simulator's scheme), so whatever it
sends is signed as itself: it can lie, equivocate and flood, but never forge a correct
validator's message (`sim.strategy` has the base class and what a strategy may know).
Strategies, each with the honest rule it tests:
- `equivocate`: the proposer sends a second, different block to half of its peers; the voter
  sends each vote to half of its peers and a conflicting one to the other half;
- `amnesia`: the replica is rebuilt from its store with its lock erased (it keeps what it signed,
  so it does not double-sign; it just forgets what it locked on);
- `silent`: nothing leaves (it still persists and commits);
- `garbage`: besides its honest messages, sends junk: random bytes, truncated or bit-flipped
  messages, and votes claiming another validator's key with a bad signature;
- `flood`: signs nil votes for many future rounds and heights and sends them to everyone;
- `lie_vr`: proposes with a valid round that has no polka behind it (line 28; `sim.lies`);
- `usurp`: proposes for rounds whose proposer it is not (the proposer check; `sim.lies`);
- `forge`: serves committed blocks with short, other-height or badly signed certificates
  (catch-up's certificate check; `sim.forgery`);
- `cross_chain`: replays what the same validators signed on a sister chain, and signs its own
  messages for it (the chain id in sign bytes; `sim.replays`);
- `replay`: re-sends old heights' votes and proposals verbatim (the height check of
  admission; `sim.replays`).
Twins are not a strategy: a twin is a second honest instance under the same key.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import attrs

from consensus.codec import DecodeError
from consensus.crypto import Signer
from consensus.messages import Vote, VoteType
from consensus.replica.block import block_id, decode_block, encode_block, make_block
from consensus.replica.events import BroadcastPayload, ReplicaEffect, SendTo
from consensus.replica.wire import ProposalMsg, VoteMsg, WireMessage, encode_wire
from consensus.signing import sign_proposal, sign_vote
from sim.config import STRATEGIES
from sim.forgery import Forge
from sim.lies import LieValidRound, Usurp
from sim.replays import CrossChain, Replay, SisterChain
from sim.strategy import Strategy, StrategyContext

if TYPE_CHECKING:
    from sim.stack import World

MAX_BLOCK_BYTES = 8_000_000


class Equivocate(Strategy):
    def outgoing(self, effects: list[ReplicaEffect]) -> list[ReplicaEffect]:
        out: list[ReplicaEffect] = []
        for effect in effects:
            msg = self._own(effect.payload) if isinstance(effect, BroadcastPayload) else None
            other = self._conflicting(msg) if msg is not None else None
            if other is None:
                out.append(effect)
                continue
            assert isinstance(effect, BroadcastPayload)
            first, second = self._halves()
            out.extend(SendTo(peer, effect.payload) for peer in first)
            out.extend(SendTo(peer, other) for peer in second)
            self.sent += len(second)
        return out

    def _conflicting(self, msg: WireMessage) -> bytes | None:
        if isinstance(msg, VoteMsg):
            vote = msg.vote
            other = None if vote.block_id is not None else self.rng.randbytes(32)
            forged = sign_vote(self.signer, self.chain_id, attrs.evolve(vote, block_id=other))
            return encode_wire(VoteMsg(forged))
        assert isinstance(msg, ProposalMsg)
        try:
            block = decode_block(msg.block, MAX_BLOCK_BYTES)
        except DecodeError:
            return None
        h = block.header
        twin = make_block(
            chain_id=h.chain_id,
            height=h.height,
            time_ms=h.time_ms + 1 + self.rng.randrange(1000),
            prev_block_id=h.prev_block_id,
            app_hash=h.app_hash,
            results_root=h.results_root,
            proposer=h.proposer,
            txs=block.txs,
            last_commit=block.last_commit,
            evidence=block.evidence,
        )
        proposal = attrs.evolve(msg.proposal, block_id=block_id(twin.header))
        signed = sign_proposal(self.signer, self.chain_id, proposal)
        return encode_wire(ProposalMsg(signed, encode_block(twin)))


class Amnesia(Strategy):
    def wants_amnesia(self, locked_round: int) -> bool:
        return locked_round >= 0 and self.rng.random() < 0.5


class Silent(Strategy):
    def outgoing(self, effects: list[ReplicaEffect]) -> list[ReplicaEffect]:
        kept: list[ReplicaEffect] = [
            e for e in effects if not isinstance(e, SendTo | BroadcastPayload)
        ]
        self.sent += len(effects) - len(kept)
        return kept


class Garbage(Strategy):
    def outgoing(self, effects: list[ReplicaEffect]) -> list[ReplicaEffect]:
        out = list(effects)
        for effect in effects:
            if isinstance(effect, BroadcastPayload) and self.rng.random() < 0.3:
                out.append(SendTo(self.rng.choice(self.peers), self._junk(effect.payload)))
                self.sent += 1
        return out

    def _junk(self, payload: bytes) -> bytes:
        choice = self.rng.randrange(4)
        if choice == 0:
            return self.rng.randbytes(self.rng.randrange(1, 200))
        if choice == 1:
            return payload[: self.rng.randrange(len(payload))] if payload else b"\x00"
        if choice == 2 and payload:
            i = self.rng.randrange(len(payload))
            return (
                payload[:i] + bytes([payload[i] ^ (1 << self.rng.randrange(8))]) + payload[i + 1 :]
            )
        victim = self.rng.choice(self.peers)
        vote = Vote(VoteType.PREVOTE, 1, 0, None, victim, self.rng.randbytes(64))
        return encode_wire(VoteMsg(vote))


class Flood(Strategy):
    def outgoing(self, effects: list[ReplicaEffect]) -> list[ReplicaEffect]:
        out = list(effects)
        for effect in effects:
            if not isinstance(effect, BroadcastPayload) or self.rng.random() < 0.5:
                continue
            msg = self._own(effect.payload)
            if not isinstance(msg, VoteMsg):
                continue
            v = msg.vote
            for k in range(1, self.rng.randint(2, 8)):
                height = v.height + (k if self.rng.random() < 0.3 else 0)
                for vote_type in (VoteType.PREVOTE, VoteType.PRECOMMIT):
                    fake = Vote(vote_type, height, v.round + k, None, self.signer.public_key)
                    signed = sign_vote(self.signer, self.chain_id, fake)
                    out.append(BroadcastPayload(encode_wire(VoteMsg(signed))))
                    self.sent += 1
        return out


STRATEGY_CLASSES: dict[str, type[Strategy]] = {
    "equivocate": Equivocate,
    "amnesia": Amnesia,
    "silent": Silent,
    "garbage": Garbage,
    "flood": Flood,
    "lie_vr": LieValidRound,
    "usurp": Usurp,
    "forge": Forge,
    "cross_chain": CrossChain,
    "replay": Replay,
}
assert tuple(STRATEGY_CLASSES) == STRATEGIES, "sim.config.STRATEGIES lists every strategy"


def make_strategy(
    name: str,
    signer: Signer,
    chain_id: str,
    peers: tuple[bytes, ...],
    rng: random.Random,
    world: World | None = None,
) -> Strategy:
    """Strategy `name` for the validator of `signer`; `world` supplies the public context (the
    validator set, and the sister chain its validators also sign on), never its signers."""
    context = None
    if world is not None:
        sister = SisterChain(world.signers)
        context = StrategyContext(world.validators, sister.votes)
    return STRATEGY_CLASSES[name](name, signer, chain_id, peers, rng, context)
