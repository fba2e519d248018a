"""One named scenario per rule of REFERENCES.md's list, each citing the paper lines it covers.

Four validators of equal power 10 (total 40): 2f+1 is 3 votes (30 > 26.7), f+1 is 2 (20 > 13.3).
At height 1 the proposer of round r is validator r % 4. The core under test is scripted: the
other validators' messages are signed with their real keys and fed in by hand.
"""

from __future__ import annotations

from consensus import events as ev
from consensus.core import ConsensusCore
from consensus.messages import Proposal, Step, Vote, VoteType
from tests.consensus.helpers import (
    Validators,
    assert_persist_before_send,
    block,
    broadcasts,
    my_votes,
    precommit,
    prevote,
    timeouts,
)

B, C = block("B"), block("C")
VALS = Validators(4)
PRE, COM = VoteType.PREVOTE, VoteType.PRECOMMIT


class Run:
    """The core of validator `me`, fed events, with invariants checked after every step."""

    def __init__(self, me: int, **kwargs: object) -> None:
        self.core: ConsensusCore = VALS.core(me, **kwargs)
        self.me = me
        self.now_ms = 0
        self.last = self.feed_start()

    def feed_start(self) -> list[ev.Effect]:
        return self._check(self.core.start_height(1, self.now_ms))

    def feed(self, *events: ev.Event) -> list[ev.Effect]:
        out: list[ev.Effect] = []
        for event in events:
            out += self._check(self.core.handle(event, self.now_ms))
        self.last = out
        return out

    def _check(self, effects: list[ev.Effect]) -> list[ev.Effect]:
        self.core.check_invariants()
        assert_persist_before_send(effects)
        assert not [e for e in effects if isinstance(e, ev.InputRejected)], effects
        return effects

    def proposal(self, round: int, value: bytes, valid_round: int = -1) -> list[ev.Effect]:
        """Deliver the proposal of `round` and a positive validity verdict for it."""
        return self.feed(
            ev.ProposalReceived(VALS.proposal(1, round, value, valid_round)),
            ev.ValidityVerdict(1, value, True),
        )

    def timeout(self, round: int, step: Step) -> list[ev.Effect]:
        return self.feed(ev.TimeoutElapsed(1, round, step))

    def lock_on(self, value: bytes, round: int, others: tuple[int, ...]) -> None:
        """Receive the proposal and a polka for `value` in `round`: we lock (lines 36-41)."""
        self.proposal(round, value)
        out = self.feed(*(prevote(VALS, i, 1, round, value) for i in others))
        assert my_votes(out, COM) == [value]
        assert (self.core.sign_state.locked_value, self.core.sign_state.locked_round) == (
            value,
            round,
        )

    def to_round(self, round: int) -> None:
        """Leave the current rounds through timeoutPrecommit (lines 65-67, any step)."""
        while self.core.round < round:
            self.timeout(self.core.round, Step.PRECOMMIT)
        assert self.core.round == round


def test_lock_without_polka_only_on_line_36_and_kept_in_a_round_without_polka() -> None:
    """Lines 22-27, 36-41, 57-64 (CometBFT TestStateLockNoPOL): a lock is taken only on a polka;
    in a later round without a polka the locked validator prevotes nil for another value and
    its locked value again when re-proposed, and keeps its lock."""
    run = Run(me=3)
    run.proposal(0, B)
    out = run.feed(prevote(VALS, 0, 1, 0, B))  # one prevote: no polka, no lock
    assert run.core.sign_state.locked_round == -1 and my_votes(out, COM) == []
    run.feed(prevote(VALS, 1, 1, 0, B))
    assert run.core.sign_state.locked_value == B  # 3 prevotes with ours: polka, lock
    run.to_round(1)
    assert my_votes(run.proposal(1, C), PRE) == [None]  # line 25: locked on B
    run.timeout(1, Step.PREVOTE)  # lines 61-64: no polka in round 1
    assert run.core.sign_state.locked_value == B and run.core.sign_state.locked_round == 0
    run.to_round(2)
    assert my_votes(run.proposal(2, B), PRE) == [B]  # line 23: lockedValue = v


def test_relock_on_a_later_polka() -> None:
    """Lines 22-25 then 36-41 (CometBFT TestStateLockPOLRelock): locked on B in round 0, a polka
    for C in round 1 replaces the lock and we precommit C."""
    run = Run(me=3)
    run.lock_on(B, 0, (0, 1))
    run.to_round(1)
    assert my_votes(run.proposal(1, C), PRE) == [None]
    out = run.feed(*(prevote(VALS, i, 1, 1, C) for i in (0, 1, 2)))
    assert my_votes(out, COM) == [C]
    state = run.core.sign_state
    assert (state.locked_value, state.locked_round) == (C, 1)
    assert (state.valid_value, state.valid_round) == (C, 1)


def test_never_unlock_on_a_nil_polka() -> None:
    """Lines 44-46 (CometBFT TestStateLockPOLUnlock, fixed by tendermint#6954): a nil polka
    makes us precommit nil but never releases the lock (only line 36 replaces it)."""
    run = Run(me=3)
    run.lock_on(B, 0, (0, 1))
    run.to_round(1)
    run.proposal(1, C)
    out = run.feed(*(prevote(VALS, i, 1, 1, None) for i in (0, 1, 2)))
    assert my_votes(out, COM) == [None]
    assert run.core.sign_state.locked_value == B and run.core.sign_state.locked_round == 0
    run.to_round(2)
    assert my_votes(run.proposal(2, C), PRE) == [None]


def test_valid_round_proposal_needs_the_round_vr_polka() -> None:
    """Lines 28-33 and 57-60: a proposal with vr >= 0 is prevoted only once 2f+1 prevotes for it
    from round vr are known; without them we wait and prevote nil at timeoutPropose."""
    run = Run(me=3)
    run.to_round(1)
    out = run.proposal(1, B, valid_round=0)
    assert my_votes(out, PRE) == []  # no round-0 polka: line 22 does not apply, 28 waits
    out = run.timeout(1, Step.PROPOSE)
    assert my_votes(out, PRE) == [None]

    run = Run(me=3)
    run.to_round(1)
    run.proposal(1, B, valid_round=0)
    out = run.feed(*(prevote(VALS, i, 1, 0, B) for i in (0, 1)))
    assert my_votes(out, PRE) == []  # 2 of 4: still not a polka
    out = run.feed(prevote(VALS, 2, 1, 0, B))
    assert my_votes(out, PRE) == [B]  # line 30: the late round-0 polka arrives


def test_line_29_refuses_when_locked_after_vr() -> None:
    """Line 29: with vr >= 0, prevote v only if lockedRound <= vr or lockedValue = v."""
    run = Run(me=3)
    run.to_round(1)
    run.lock_on(C, 1, (0, 1))  # locked on C in round 1
    run.to_round(2)
    run.feed(*(prevote(VALS, i, 1, 0, B) for i in (0, 1, 2)))  # a round-0 polka for B
    out = run.proposal(2, B, valid_round=0)
    assert my_votes(out, PRE) == [None]  # lockedRound 1 > vr 0 and lockedValue C != B


def test_valid_value_updated_on_delayed_prevote_after_nil_precommit() -> None:
    """Lines 36, 42-43 (CometBFT TestSetValidBlockOnDelayedPrevote): after precommitting nil at
    timeoutPrevote, a late third prevote for B still sets validValue/validRound (not the lock)."""
    run = Run(me=3)
    run.proposal(0, B)
    run.feed(prevote(VALS, 0, 1, 0, B), prevote(VALS, 1, 1, 0, None))
    assert my_votes(run.timeout(0, Step.PREVOTE), COM) == [None]
    out = run.feed(prevote(VALS, 2, 1, 0, B))
    assert broadcasts(out) == []  # already precommitted: no second precommit
    state = run.core.sign_state
    assert (state.valid_value, state.valid_round) == (B, 0)
    assert state.locked_round == -1


def test_proposer_reproposes_valid_value() -> None:
    """Lines 14-16 and 19: the proposer of round 1 holds validValue B (from round 0) and proposes
    it with vr = validRound, without asking for a new value."""
    run = Run(me=1)  # proposer of round 1, not of round 0
    run.proposal(0, B)
    run.feed(prevote(VALS, 0, 1, 0, B), prevote(VALS, 2, 1, 0, None))
    run.timeout(0, Step.PREVOTE)
    run.feed(prevote(VALS, 3, 1, 0, B))  # delayed polka: validValue = B
    run.feed(*(precommit(VALS, i, 1, 0, None) for i in (0, 2, 3)))
    out = run.timeout(0, Step.PRECOMMIT)
    proposals = [m for m in broadcasts(out) if not hasattr(m, "type")]
    assert [(p.round, p.block_id, p.valid_round) for p in proposals] == [(1, B, 0)]
    assert not [e for e in out if isinstance(e, ev.RequestProposalValue)]


def test_proposer_reproposes_valid_value_not_locked_value() -> None:
    """Lines 15-16 (rule 3): locked on B from round 0, validValue C from a round-1 polka seen
    after precommitting nil; as proposer of round 2 we propose C with vr = 1, not B with vr = 0."""
    run = Run(me=2)  # proposer of round 2
    run.lock_on(B, 0, (0, 1))
    run.to_round(1)
    assert my_votes(run.proposal(1, C), PRE) == [None]  # locked on B
    run.feed(prevote(VALS, 0, 1, 1, C))
    run.timeout(1, Step.PREVOTE)
    run.feed(prevote(VALS, 1, 1, 1, C), prevote(VALS, 3, 1, 1, C))  # late polka for C
    state = run.core.sign_state
    assert (state.locked_value, state.locked_round, state.valid_value, state.valid_round) == (
        B,
        0,
        C,
        1,
    )
    run.to_round(2)
    props = [m for m in broadcasts(run.last) if not hasattr(m, "type")]
    assert [(p.block_id, p.valid_round) for p in props] == [(C, 1)]


def test_proposer_without_valid_value_asks_for_one() -> None:
    """Lines 17-19: with validValue = nil the proposer calls getValue() and proposes with vr=-1."""
    run = Run(me=0)
    assert ev.RequestProposalValue(1, 0) in run.last
    out = run.feed(ev.ProposalValueSupplied(1, 0, B))
    (p, v) = broadcasts(out)
    assert isinstance(p, Proposal) and isinstance(v, Vote)
    assert (p.block_id, p.valid_round) == (B, -1) and (v.type, v.block_id) == (PRE, B)


def test_decide_for_a_past_round() -> None:
    """Lines 49-54 (CometBFT TestCommitFromPreviousRound): a proposal and 2f+1 precommits from an
    earlier round decide, whatever our current round and step."""
    run = Run(me=3)
    run.to_round(2)
    run.feed(*(precommit(VALS, i, 1, 0, B) for i in (0, 1, 2)))
    out = run.proposal(0, B)
    (decision,) = [e for e in out if isinstance(e, ev.Decide)]
    assert (decision.height, decision.round, decision.block_id) == (1, 0, B)
    assert {v.validator for v in decision.commit.precommits} == {
        VALS.signers[i].public_key for i in (0, 1, 2)
    }
    assert run.core.decided == B
    assert run.feed(ev.TimeoutElapsed(1, 2, Step.PRECOMMIT)) == []  # decided: rounds are over


def test_decide_waits_for_validity() -> None:
    """Line 50: 2f+1 precommits are not enough until valid(v) is known."""
    run = Run(me=3)
    run.feed(ev.ProposalReceived(VALS.proposal(1, 0, B)))
    out = run.feed(*(precommit(VALS, i, 1, 0, B) for i in (0, 1, 2)))
    assert not [e for e in out if isinstance(e, ev.Decide)]
    out = run.feed(ev.ValidityVerdict(1, B, True))
    assert [e.block_id for e in out if isinstance(e, ev.Decide)] == [B]


def test_round_skip_on_more_than_one_third_at_a_higher_round() -> None:
    """Lines 55-56: messages at round 3 from validators holding more than 1/3 of the power move
    us to round 3; one validator (exactly 1/4) is not enough."""
    run = Run(me=3)
    run.feed(prevote(VALS, 0, 1, 3, None))
    assert run.core.round == 0
    out = run.feed(precommit(VALS, 1, 1, 3, B))
    assert run.core.round == 3 and run.core.step is Step.PROPOSE
    assert (1, 3, Step.PROPOSE) in timeouts(out)


def test_stale_timeouts_are_ignored() -> None:
    """Lines 57-58, 61-62, 65-66: a timeout for another height, round or step is a no-op."""
    run = Run(me=3)
    run.to_round(1)
    before = run.core.sign_state
    for stale in (
        ev.TimeoutElapsed(1, 0, Step.PROPOSE),
        ev.TimeoutElapsed(1, 0, Step.PRECOMMIT),
        ev.TimeoutElapsed(1, 1, Step.PREVOTE),  # we are in propose
        ev.TimeoutElapsed(2, 1, Step.PROPOSE),
        ev.TimeoutElapsed(0, 1, Step.PRECOMMIT),
    ):
        assert run.feed(stale) == []
    assert run.core.sign_state == before


def test_timeouts_start_on_2f1_votes_of_any_value_once() -> None:
    """Lines 34-35 and 47-48: timeoutPrevote after 2f+1 prevotes for mixed values (while in
    prevote), timeoutPrecommit after 2f+1 mixed precommits; each only the first time."""
    run = Run(me=3)
    run.timeout(0, Step.PROPOSE)  # we prevote nil
    out = run.feed(prevote(VALS, 0, 1, 0, B))
    assert timeouts(out) == []
    out = run.feed(prevote(VALS, 1, 1, 0, C))
    assert timeouts(out) == [(1, 0, Step.PREVOTE)]
    assert timeouts(run.feed(prevote(VALS, 2, 1, 0, B))) == []
    run.timeout(0, Step.PREVOTE)
    out = run.feed(precommit(VALS, 0, 1, 0, B), precommit(VALS, 1, 1, 0, C))
    assert timeouts(out) == [(1, 0, Step.PRECOMMIT)]
    deadline = [e.deadline_ms for e in out if isinstance(e, ev.ScheduleTimeout)]
    assert deadline == [run.now_ms + run.core.timeouts.duration_ms(Step.PRECOMMIT, 0)]
    assert timeouts(run.feed(precommit(VALS, 2, 1, 0, None))) == []


def test_equivocation_produces_evidence_and_counts_only_for_its_own_value() -> None:
    """Rule 1 (vote sets): a second, different prevote from one validator for the same
    (height, round, type) yields DuplicateVoteEvidence; it is kept and counts towards its own
    value only (consensus/votes.py), never twice, and a third value is dropped."""
    run = Run(me=3)
    first, second = prevote(VALS, 0, 1, 0, B), prevote(VALS, 0, 1, 0, C)
    run.feed(first)
    out = run.feed(second)
    (evidence,) = [e.evidence for e in out if isinstance(e, ev.ReportEvidence)]
    assert (evidence.vote_a, evidence.vote_b) == (first.vote, second.vote)
    assert run.core.votes(0, PRE) == (first.vote, second.vote)
    assert run.core.evidence() == (evidence,)
    assert run.feed(first) == [] and run.feed(second) == []  # identical copies: duplicates
    assert run.feed(prevote(VALS, 0, 1, 0, None)) == []  # a third value: neither kept nor reported
    assert run.core.votes(0, PRE) == (first.vote, second.vote)


def test_a_polka_hidden_by_an_equivocator_is_found_when_its_other_prevote_arrives() -> None:
    """Lines 28-33 with an equivocator (seed 12 of the simulator). Validator 0 proposes B in
    round 0 and prevotes B to validators 1 and 2, who prevote B too (a polka: 1 locks and
    re-proposes B with vr = 0 in round 1), but nil to us (3). We count its nil, see no polka,
    and would prevote nil on the re-proposal. When its prevote for B reaches us (fetched from a
    peer), it is evidence *and* counts for B: the round-0 polka appears and line 28 prevotes B."""
    run = Run(me=3)
    run.timeout(0, Step.PROPOSE)  # we missed round 0's proposal: nil (lines 57-60)
    nil_first = prevote(VALS, 0, 1, 0, None)
    run.feed(nil_first, prevote(VALS, 1, 1, 0, B), prevote(VALS, 2, 1, 0, B))
    run.timeout(0, Step.PREVOTE)  # 2f+1 of any value, no polka: precommit nil
    run.to_round(1)
    assert my_votes(run.proposal(1, B, valid_round=0), PRE) == []  # line 28 waits for round 0
    hidden = prevote(VALS, 0, 1, 0, B)
    out = run.feed(hidden)
    (evidence,) = [e.evidence for e in out if isinstance(e, ev.ReportEvidence)]
    assert (evidence.vote_a, evidence.vote_b) == (nil_first.vote, hidden.vote)
    assert my_votes(out, PRE) == [B]  # line 28: 2f+1 prevotes for B from round vr = 0
    assert run.core.sign_state.locked_round == -1  # line 28 does not lock (line 36 does)


def test_a_commit_can_use_an_equivocators_precommit_for_the_block() -> None:
    """Line 49 with an equivocator: its nil precommit reached us first, its precommit for B
    later; with 1 and 2 that is 2f+1 precommits for B, and the commit certificate carries its
    vote for B (each validator once)."""
    run = Run(me=3)
    run.proposal(0, B)
    run.feed(precommit(VALS, 0, 1, 0, None), precommit(VALS, 1, 1, 0, B))
    out = run.feed(precommit(VALS, 2, 1, 0, B))
    assert not [e for e in out if isinstance(e, ev.Decide)]
    out = run.feed(precommit(VALS, 0, 1, 0, B))
    (decide,) = [e for e in out if isinstance(e, ev.Decide)]
    assert decide.block_id == B
    voters = [v.validator for v in decide.commit.precommits]
    assert len(voters) == len(set(voters)) == 3
    assert all(v.block_id == B for v in decide.commit.precommits)


def test_any_value_thresholds_count_an_equivocator_once() -> None:
    """Lines 34-35 and 55-56 with an equivocator: its two prevotes count once towards "2f+1 of
    any value" (no timeoutPrevote with only two distinct voters) and once towards "f+1 at a
    higher round" (no round skip on one validator's two messages)."""
    run = Run(me=3)
    run.timeout(0, Step.PROPOSE)  # we prevote nil
    out = run.feed(prevote(VALS, 0, 1, 0, B), prevote(VALS, 0, 1, 0, C))
    assert timeouts(out) == []  # 20 of 40 distinct: not more than 2/3
    assert timeouts(run.feed(prevote(VALS, 1, 1, 0, C))) == [(1, 0, Step.PREVOTE)]
    out = run.feed(prevote(VALS, 2, 1, 3, B), prevote(VALS, 2, 1, 3, None))
    assert run.core.round == 0  # one validator's messages at round 3: 10 of 40, not f+1
    run.feed(precommit(VALS, 1, 1, 3, None))
    assert run.core.round == 3  # two distinct validators: f+1


def test_hidden_lock_is_revealed_by_valid_round() -> None:
    """The hidden-lock case (lines 15-16, 28-30, 36-43): validator 1 alone saw round 0's polka for
    B and locked. As proposer of round 1 it re-proposes B with vr = 0. Validator 2, which missed
    the polka and is not locked, waits until the round-0 prevotes reach it, then prevotes B, so
    the hidden lock cannot block progress."""
    locked = Run(me=1)
    locked.lock_on(B, 0, (0, 3))
    locked.to_round(1)
    props = [m for m in broadcasts(locked.last) if not hasattr(m, "type")]
    assert [(p.block_id, p.valid_round) for p in props] == [(B, 0)]

    other = Run(me=2)
    other.proposal(0, B)
    other.feed(prevote(VALS, 0, 1, 0, B))  # sees only part of the polka
    other.timeout(0, Step.PREVOTE)
    other.to_round(1)
    out = other.feed(ev.ProposalReceived(props[0]))
    assert my_votes(out, PRE) == []  # the polka of round 0 is not known yet
    out = other.feed(prevote(VALS, 1, 1, 0, B), prevote(VALS, 3, 1, 0, B))
    assert my_votes(out, PRE) == [B]
