"""One named scenario per rule of REFERENCES.md's list, each citing the paper lines it covers.

Four validators of equal power 10 (total 40): 2f+1 is 3 votes (30 > 26.7), f+1 is 2 (20 > 13.3).
At height 1 the proposer of round r is validator r % 4. The core under test is scripted: the
other validators' messages are signed with their real keys and fed in by hand.
"""

from __future__ import annotations

from consensus import events as ev
from consensus.core import ConsensusCore
from consensus.messages import Proposal, SignedRecord, SignState, Step, Vote, VoteType
from consensus.signing import vote_sign_bytes
from tests.consensus.helpers import (
    CHAIN,
    TIMEOUTS,
    Net,
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


# ------------------------------------------------------------ crash and restart


def persisted_after(effects: list[ev.Effect], message: Proposal | Vote) -> SignState:
    """The sign state a driver wrote just before `message` left (then the node "crashed")."""
    states = [e.state for e in effects if isinstance(e, ev.PersistSignState)]
    (state,) = [s for s in states if s.last_signed and s.last_signed.signature == message.signature]
    return state


def test_a_restarted_voter_resends_its_prevote_and_counts_it() -> None:
    """Crash safety and rule 10: validator 3 prevoted B, the sign state was persisted, and it
    crashed before the prevote left. Restored from that state it must not stay silent (the
    guard refuses any other prevote of round 0): it re-sends the very prevote it signed, byte
    for byte, resumes in the prevote step, and counts its own prevote, so its polka with two
    others locks and precommits B (lines 36-41)."""
    run = Run(me=3)
    out = run.proposal(0, B)
    (vote,) = broadcasts(out)
    state = persisted_after(out, vote)

    restarted = Run(me=3, sign_state=state)
    assert broadcasts(restarted.last) == [vote]  # the stored signature, identical sign bytes
    assert restarted.core.step is Step.PREVOTE and restarted.core.votes(0, PRE) == (vote,)
    assert restarted.core.own_messages() == (vote,)
    restarted.proposal(0, B)  # the proposal arrives again; no second prevote
    assert broadcasts(restarted.last) == []
    out = restarted.feed(prevote(VALS, 0, 1, 0, B), prevote(VALS, 1, 1, 0, B))
    assert my_votes(out, COM) == [B]  # 2 prevotes + our own: a polka


def test_a_restarted_proposer_resends_its_proposal_and_still_times_out() -> None:
    """Lines 14-21 and 57-60 after a crash. The proposer of round 0 signed its proposal and
    crashed before anything left. The guard would re-sign only byte-identical bytes at
    (1, 0, propose), and a proposer proposes once per round, so re-sending the stored proposal
    is the one correct proposal (a fresh getValue() would be refused or, worse, conflict).
    Line 21 schedules timeoutPropose only for the others because a proposer receives its own
    proposal at once; after a crash that fails: the block may have died with it and valid(v)
    may never be answered. So the restarted proposer also schedules timeoutPropose: if valid(v)
    arrives first it prevotes its proposal (line 22), else it prevotes nil on the timeout."""
    run = Run(me=0)
    out = run.feed(ev.ProposalValueSupplied(1, 0, B))
    proposal = broadcasts(out)[0]
    state = persisted_after(out, proposal)

    lost_block = Run(me=0, sign_state=state)
    assert broadcasts(lost_block.last) == [proposal]
    assert not [e for e in lost_block.last if isinstance(e, ev.RequestProposalValue)]
    assert ev.RequestValidity(1, B) in lost_block.last
    assert timeouts(lost_block.last) == [(1, 0, Step.PROPOSE)]
    out = lost_block.timeout(0, Step.PROPOSE)
    assert my_votes(out, PRE) == [None]  # lines 57-60; the guard allows prevote > propose

    block_found = Run(me=0, sign_state=state)
    out = block_found.feed(ev.ValidityVerdict(1, B, True))
    assert my_votes(out, PRE) == [B]  # line 22, before the timeout


def test_a_proposer_that_crashed_after_its_prevote_resumes_in_prevote() -> None:
    """Sim seed 15's stall: the proposer of round 0 proposed B and prevoted it, and crashed
    before either left. The sign state holds only the prevote now, so the proposal can neither
    be re-sent nor signed again (the guard refuses the lower step). The restarted proposer
    re-sends its prevote, resumes in the prevote step (not waiting in propose for ever), and
    the round ends through timeoutPrevote and timeoutPrecommit (lines 34, 61, 47, 65)."""
    run = Run(me=0)
    out = run.feed(ev.ProposalValueSupplied(1, 0, B))
    proposal, vote = broadcasts(out)
    state = persisted_after(out, vote)

    restarted = Run(me=0, sign_state=state)
    assert broadcasts(restarted.last) == [vote] and restarted.core.step is Step.PREVOTE
    assert restarted.core.proposal(0) is None and proposal not in restarted.core.own_messages()
    out = restarted.feed(prevote(VALS, 1, 1, 0, None), prevote(VALS, 2, 1, 0, None))
    assert timeouts(out) == [(1, 0, Step.PREVOTE)]  # 2f+1 of any value, ours included
    assert my_votes(restarted.timeout(0, Step.PREVOTE), COM) == [None]
    out = restarted.feed(precommit(VALS, 1, 1, 0, None), precommit(VALS, 2, 1, 0, None))
    assert timeouts(out) == [(1, 0, Step.PRECOMMIT)]
    restarted.timeout(0, Step.PRECOMMIT)
    assert (restarted.core.round, restarted.core.step) == (1, Step.PROPOSE)


def test_a_validator_restarted_after_its_precommit_times_the_round_out() -> None:
    """Default sim seed 259 (tests/sim/test_storage_faults.py): a validator prevoted and
    precommitted, then every validator crashed or lost power. Restarted, it re-sends only its
    precommit (its sign state holds its last signature); its prevote, which the others needed
    for 2f+1 prevotes of any value (line 34), is gone with their memories, nobody sees 2f+1
    precommits either (line 47), and the round never ends. So a validator resuming in the
    precommit step schedules timeoutPrecommit itself (line 65 then starts the next round).
    (It now re-sends its prevote too, from `SignState.own_votes`; the others' prevotes of the
    round may still be lost with them, so the timeout stays.)"""
    run = Run(me=3)
    prevote_b = my_votes(run.proposal(0, B), PRE)
    assert prevote_b == [B]
    (own_prevote,) = broadcasts(run.last)
    out = run.feed(prevote(VALS, 0, 1, 0, B), prevote(VALS, 1, 1, 0, B))
    (vote,) = [v for v in broadcasts(out) if isinstance(v, Vote) and v.type is COM]
    state = persisted_after(out, vote)

    restarted = Run(me=3, sign_state=state)
    assert broadcasts(restarted.last) == [own_prevote, vote]
    assert restarted.core.step is Step.PRECOMMIT
    assert timeouts(restarted.last) == [(1, 0, Step.PRECOMMIT)]
    restarted.timeout(0, Step.PRECOMMIT)
    assert (restarted.core.round, restarted.core.step) == (1, Step.PROPOSE)


def test_every_signature_the_guard_refuses_still_schedules_its_timeout() -> None:
    """Lines 57-66 keep the algorithm live; a refused signature must not stop them. A sign
    state whose round lags its last signature (our code never writes one; a hand-restored
    backup could) makes the guard refuse the proposal, the prevote and the precommit of round
    0 and the prevote of round 1. Each refusal is silence, and each schedules the timeout of
    its step, so the proposer still walks to round 2 and signs there."""
    last = VALS.vote(0, COM, 1, 1, None)
    record = SignedRecord(1, 1, Step.PRECOMMIT, vote_sign_bytes(CHAIN, last), last.signature)
    state = SignState(1, 0, Step.PROPOSE, valid_round=0, valid_value=B, last_signed=record)
    run = Run(me=0, sign_state=state)
    assert broadcasts(run.last) == [] and timeouts(run.last) == [(1, 0, Step.PROPOSE)]
    out = run.timeout(0, Step.PROPOSE)
    assert broadcasts(out) == [] and timeouts(out) == [(1, 0, Step.PREVOTE)]
    out = run.timeout(0, Step.PREVOTE)
    assert broadcasts(out) == [] and timeouts(out) == [(1, 0, Step.PRECOMMIT)]
    out = run.timeout(0, Step.PRECOMMIT)  # round 1 (proposer: validator 1)
    assert timeouts(out) == [(1, 1, Step.PROPOSE)]
    out = run.timeout(1, Step.PROPOSE)  # prevote nil at round 1: below the last signature
    assert broadcasts(out) == [] and timeouts(out) == [(1, 1, Step.PREVOTE)]
    out = run.timeout(1, Step.PREVOTE)  # precommit nil at round 1: the identical bytes
    assert broadcasts(out) == [last]
    run.timeout(1, Step.PRECOMMIT)
    out = run.feed(ev.ProposalReceived(VALS.proposal(1, 2, C)), ev.ValidityVerdict(1, C, True))
    assert my_votes(out, PRE) == [C]  # round 2: above the last signature, signing again


def test_two_validators_crash_before_their_prevotes_leave_and_the_height_still_decides() -> None:
    """Seed 15 in miniature, over an in-memory network of four: the proposer (0) proposed and
    prevoted B, validator 1 prevoted B, and both crashed before any of it left. Validators 2
    and 3 prevote nil on timeoutPropose; without 0's and 1's prevotes nobody would ever see
    2f+1 prevotes of round 0. Restarted, 0 and 1 re-send their prevotes and the height decides."""
    net = Net(VALS, [0, 1, 2, 3], timeouts=TIMEOUTS)
    net.start(1)
    net.deliver(lambda t, e: t == 0)  # 0 gets its value: proposal + prevote B
    net.deliver(lambda t, e: t == 1 and not isinstance(e, ev.VoteReceived))  # 1 prevotes B
    crashed = {VALS.signers[i].public_key for i in (0, 1)}

    def lost(target: int, event: ev.Event) -> bool:
        if target in (0, 1):
            return True
        if isinstance(event, ev.ProposalReceived):
            return event.proposal.proposer in crashed
        return isinstance(event, ev.VoteReceived) and event.vote.validator in crashed

    net.drop(lost)
    net.pending_timeouts = [(i, t) for i, t in net.pending_timeouts if i not in (0, 1)]
    for i in (0, 1):
        state = net.persisted[i]
        assert isinstance(state, SignState) and state.last_signed is not None
        assert state.last_signed.step is Step.PREVOTE
        net.cores[i] = VALS.core(i, sign_state=state)
        net.apply(i, net.cores[i].start_height(1, net.now_ms))
    for _ in range(200):
        net.run()
        if all(1 in d for d in net.decisions.values()):
            break
        assert net.fire_next_timeout()
    assert len({d[1] for d in net.decisions.values()}) == 1


def test_a_restarted_validator_keeps_the_polka_behind_its_valid_value() -> None:
    """Sim seed 1021 (`depositnet sim run --seed 1021 --set byzantine=none --set twins=none`),
    four correct validators, lost messages and crashes. In round 0 validators 1, 2 and 3
    prevoted B; 1's prevote reached only 1 and 2, which locked on B (lines 36-41); then both
    crashed and restarted. Restored, they re-proposed B with vr = 0 (lines 15-16), but the
    round-0 polka existed nowhere any more: 1 had kept only its last signed message and 2 none
    of what it received. So line 28 waited for ever for everyone, the two locked validators
    prevoted nil on every fresh value, and no height was ever decided again. The polka behind
    the valid value is now part of the persisted sign state and counted again on restart: the
    restarted validator holds it, serves it (the round's votes), and takes its own
    re-proposal."""
    run = Run(me=2)
    run.lock_on(B, 0, others=(1, 3))
    (precommit_b,) = [v for v in broadcasts(run.last) if isinstance(v, Vote)]
    state = persisted_after(run.last, precommit_b)
    voters = {v.validator for v in state.valid_polka}
    assert voters == {VALS.signers[i].public_key for i in (1, 2, 3)}

    restarted = Run(me=2, sign_state=state)
    assert restarted.core.has_quorum(0, PRE, B)
    held = {v.validator for v in restarted.core.votes(0, PRE)}  # what a peer asking is sent
    assert VALS.signers[1].public_key in held
    restarted.to_round(2)  # validator 2 proposes in round 2: its valid value, vr = 0 ...
    (proposal,) = broadcasts(restarted.last)
    assert isinstance(proposal, Proposal) and (proposal.block_id, proposal.valid_round) == (B, 0)
    out = restarted.feed(ev.ValidityVerdict(1, B, True))  # (its verdicts died with it)
    assert my_votes(out, PRE) == [B]  # ... and takes it (line 28)


def test_a_restarted_validator_resends_every_vote_of_its_height() -> None:
    """Sim seed 1036 (`depositnet sim run --seed 1036 --set byzantine=0:replay --set
    twins=none`): validator 1 prevoted nil and precommitted nil in round 0, and its prevote
    was lost; it crashed, and restarted re-sent only its last signed message, the precommit.
    Validators 2 and 3 waited in the prevote step for 2f+1 prevotes of round 0 (line 34), 1
    and the Byzantine 0 (restarted too) in the precommit step for 2f+1 precommits (line 47):
    nobody could leave round 0 again. A restarted validator now sends every vote it signed at
    its height again, oldest first, as a write-ahead log's replay would."""
    run = Run(me=1)
    run.timeout(0, Step.PROPOSE)
    (prevote_nil,) = broadcasts(run.last)
    run.feed(prevote(VALS, 2, 1, 0, None), prevote(VALS, 3, 1, 0, None))  # a nil polka
    (precommit_nil,) = broadcasts(run.last)  # line 44
    state = persisted_after(run.last, precommit_nil)
    assert state.own_votes == (prevote_nil,)  # and the precommit is the last signed

    restarted = Run(me=1, sign_state=state)
    assert broadcasts(restarted.last) == [prevote_nil, precommit_nil]
    assert restarted.core.step is Step.PRECOMMIT
    assert set(restarted.core.own_messages()) == {prevote_nil, precommit_nil}
