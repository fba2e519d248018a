"""Every value a correct validator votes for must have its reason among the messages sent.

Algorithm 1 lets a correct validator prevote a value v in round r only on a proposal for v from
proposer(h, r) (lines 22, 28), and, when that proposal names a valid round vr >= 0, only with
2f+1 prevotes for v in round vr (line 28); it precommits v in round r only on that proposal and
2f+1 prevotes for v in round r (line 36). What a validator received was sent by someone, so the
reasons must be among the messages sent in the run (by anyone, Byzantine ones included): this
checker holds every validly signed proposal of a round's proposer and asks the run's
`VoteRecord` of sent votes for the polkas. A correct validator that prevoted on an out-of-turn
proposal, or on a made-up valid round, or precommitted without a polka, is caught at once.

The checks are one-sided on purpose: a polka counted here from every sent vote (an
equivocator's both votes included) is at least what any validator could have counted, so a
correct validator is never accused. Nil votes need no reason here.
"""

from __future__ import annotations

from collections import defaultdict

from consensus.messages import BlockId, Proposal, SignState, Step, ValidatorSet, Vote, VoteType
from consensus.proposer import proposer
from consensus.signing import proposal_from_sign_bytes
from sim.votes_seen import VoteRecord


class Justification:
    """Proposals of the rightful proposers, and the reasons they give votes."""

    def __init__(self, record: VoteRecord, validators: ValidatorSet) -> None:
        self.record = record
        self.validators = validators
        # (height, round) -> {(block id, valid round)} proposed by proposer(height, round)
        self.proposals: dict[tuple[int, int], set[tuple[BlockId, int]]] = defaultdict(set)

    def on_proposal(self, p: Proposal) -> None:
        """A proposal was sent (or signed by a correct validator): remember it if it is the
        rightful proposer's and validly signed."""
        if p.height < 1 or p.round < 0 or not self.record.authentic(p):
            return
        if proposer(self.validators, p.height, p.round) == p.proposer:
            self.proposals[(p.height, p.round)].add((p.block_id, p.valid_round))

    def on_sign_state(self, state: SignState) -> None:
        """A correct validator persisted `state`: a proposal it signed counts even if its
        block is missing and the proposal waits (re-proposing a value lost in a crash)."""
        last = state.last_signed
        if last is None or last.step is not Step.PROPOSE:
            return
        try:
            p = proposal_from_sign_bytes(self.record.chain_id, last.sign_bytes, last.signature)
        except ValueError:
            return
        self.on_proposal(p)

    def unjustified(self, vote: Vote) -> str | None:
        """Why a correct validator could not have cast `vote`, or None if it could."""
        v, h, r = vote.block_id, vote.height, vote.round
        if v is None:
            return None
        verb = "prevoted" if vote.type is VoteType.PREVOTE else "precommitted"
        what = f"{verb} {v[:4].hex()} at height {h} round {r}"
        valid_rounds = [vr for bid, vr in self.proposals.get((h, r), ()) if bid == v]
        if not valid_rounds:
            return f"{what}, which proposer({h}, {r}) never proposed"
        if vote.type is VoteType.PRECOMMIT:
            if self.record.polka(h, r, v):
                return None
            return f"{what} with no polka for it in round {r} (line 36)"
        if any(vr == -1 or self.record.polka(h, vr, v) for vr in valid_rounds):
            return None
        named = ", ".join(str(vr) for vr in sorted(valid_rounds))
        return f"{what}, proposed with valid round {named} but no polka for it there (line 28)"
