"""`forge`: a peer that serves committed blocks with certificates that do not prove them final.

Catch-up accepts a block without running consensus, on the strength of its commit certificate
alone, and a replica takes a `CommittedBlock` whenever one arrives for a height it has not
committed (asked for or not). The forger commits honestly, and then offers every block it
commits, and every block it serves in answer to `GetBlocks`, with a bad certificate:
- short: the real certificate minus precommits until the signers hold at most 2/3 of the power
  (every signature real);
- other height: the real certificate of another height (real signatures, more than 2/3 of the
  power, for another block);
- bad signature: the real certificate with one signature altered.
It sends them to every peer as soon as it commits a block and again with its status, so that
laggards and restarted validators meet them. And whenever a proposal reaches it (or it makes
one), it offers the proposed block at once as already committed, to validators that are still
deciding it: with its own precommit alone (short), with the certificate of the height before
(other height), or with that certificate's precommits relabelled for the block (bad
signatures). A correct replica refuses
them all; one that took any would commit a block whose certificate does not prove it final,
which the certificate checker sees.
"""

from __future__ import annotations

import attrs

from consensus import codec
from consensus.codec import DecodeError
from consensus.messages import Commit, Vote, VoteType
from consensus.replica.events import BroadcastPayload, CommitBlock, ReplicaEffect, SendTo
from consensus.replica.wire import CommittedBlock, ProposalMsg, StatusMsg, encode_wire
from consensus.signing import sign_vote
from sim.strategy import Strategy, decode

KEPT_COMMITS = 8
"""Certificates of the last heights kept (for other-height forgeries)."""
FORGE_ANSWER_P = 0.7
"""How often an answer to `GetBlocks` carries a forged certificate instead of the real one."""


@attrs.define
class Forge(Strategy):
    """`forge`: committed blocks offered with bad certificates (see the module doc)."""

    commits: dict[int, Commit] = attrs.field(factory=dict)  # height -> real certificate
    latest: CommittedBlock | None = None  # our last committed block, as served
    offered: set[tuple[int, int]] = attrs.field(factory=set)  # (height, round) of proposals
    proposed: list[ProposalMsg] = attrs.field(factory=list)  # received, to offer as final

    def incoming(self, payload: bytes) -> None:
        msg = decode(payload)
        if isinstance(msg, ProposalMsg) and len(self.proposed) < len(self.peers) + 1:
            self.proposed.append(msg)

    def outgoing(self, effects: list[ReplicaEffect]) -> list[ReplicaEffect]:
        out: list[ReplicaEffect] = []
        for proposal in self.proposed:
            out += self._offer_as_final(proposal)
        self.proposed = []
        for effect in effects:
            if isinstance(effect, CommitBlock):
                out.append(effect)
                record = effect.record
                self._keep(record.height, record.commit)
                self.latest = CommittedBlock(record.block, record.commit)
                out += self._broadcast(self.latest.block, self._real(self.latest))
                continue
            msg = decode(effect.payload) if isinstance(effect, SendTo | BroadcastPayload) else None
            if isinstance(effect, SendTo) and isinstance(msg, CommittedBlock):
                forged = self.forgeries(msg.block, self._real(msg))
                if forged and self.rng.random() < FORGE_ANSWER_P:
                    self.sent += 1
                    out.append(SendTo(effect.peer, encode_wire(self.rng.choice(forged))))
                    continue
            out.append(effect)
            if isinstance(msg, ProposalMsg) and msg.proposal.proposer == self.key:
                out += self._offer_as_final(msg)
            if isinstance(msg, StatusMsg) and self.latest is not None and self.rng.random() < 0.5:
                out += self._broadcast(self.latest.block, self._real(self.latest))
        return out

    def _offer_as_final(self, msg: ProposalMsg) -> list[ReplicaEffect]:
        """A proposed block, "committed" before anyone decided it (see the module doc)."""
        p = msg.proposal
        if (p.height, p.round) in self.offered or p.height <= max(self.commits, default=0):
            return []  # offered already, or a height we (hence most) have committed
        self.offered = {s for s in self.offered if s[0] >= p.height} | {(p.height, p.round)}
        precommit = Vote(VoteType.PRECOMMIT, p.height, p.round, p.block_id, self.key)
        own = Commit(
            p.height, p.round, p.block_id, (sign_vote(self.signer, self.chain_id, precommit),)
        )
        return self._broadcast(msg.block, own)

    def _broadcast(self, block: bytes, claim: Commit | None) -> list[ReplicaEffect]:
        forged = self.forgeries(block, claim)
        self.sent += len(forged) * len(self.peers)
        return [BroadcastPayload(encode_wire(m)) for m in forged]

    def _real(self, msg: CommittedBlock) -> Commit | None:
        try:
            return codec.decode_commit(msg.commit)
        except DecodeError:
            return None

    def _keep(self, height: int, raw: bytes) -> None:
        try:
            self.commits[height] = codec.decode_commit(raw)
        except DecodeError:
            return
        for old in sorted(self.commits)[:-KEPT_COMMITS]:
            del self.commits[old]

    def forgeries(self, block: bytes, claim: Commit | None) -> list[CommittedBlock]:
        """`block` with each kind of bad certificate this forger can make for it. `claim` is
        the block's real certificate, or our own precommit for it alone, or None."""
        if claim is None or not claim.precommits:
            return []
        certificates = []
        short = self._short(claim)
        if short is not None:
            certificates.append(short)
        others = [h for h in sorted(self.commits) if h != claim.height]
        if others:
            other = self.commits[others[-1] if self.rng.random() < 0.7 else self.rng.choice(others)]
            certificates.append(other)
            source = other.precommits
        else:
            source = claim.precommits
        relabelled = [
            attrs.evolve(v, height=claim.height, round=claim.round, block_id=claim.block_id)
            for v in source
        ]
        first = relabelled[0]
        relabelled[0] = attrs.evolve(
            first, signature=bytes([first.signature[0] ^ 1]) + first.signature[1:]
        )
        certificates.append(attrs.evolve(claim, precommits=tuple(relabelled)))
        return [CommittedBlock(block, codec.encode_commit(c)) for c in certificates]

    def _short(self, commit: Commit) -> Commit | None:
        """The certificate cut down to signers holding at most 2/3 of the power."""
        if self.context is None:
            return None
        validators = self.context.validators
        kept = list(commit.precommits)
        while kept and 3 * sum(validators.power_of(v.validator) for v in kept) > (
            2 * validators.total_power
        ):
            kept.pop()
        return attrs.evolve(commit, precommits=tuple(kept)) if kept else None
