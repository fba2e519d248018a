"""The upon-rules of Algorithm 1 and StartRound, each citing the paper lines it implements.

`Rules` is the layer of `ConsensusCore` that decides *what to do*; `outbox.py` signs, sends and
logs, and `core.py` admits input, dispatches it and answers queries. `_progress()` runs the rules to
a fixed point after every admitted input. Every rule that fires changes the state (a step, a round,
a decision, or a once-per-round flag), so the loop terminates. `check_invariants()` states what must
hold between calls.
"""

from __future__ import annotations

from consensus import events as ev
from consensus.messages import BlockId, Commit, Proposal, Step, VoteType
from consensus.outbox import Outbox
from consensus.proposer import proposer
from consensus.votes import more_than_one_third

# Enum members as module constants: looking a member up on its Enum class costs more than the
# test it feeds, and this code runs for every message.
PROPOSE_STEP, PREVOTE_STEP, PRECOMMIT_STEP = Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT
PREVOTE_TYPE, PRECOMMIT_TYPE = VoteType.PREVOTE, VoteType.PRECOMMIT


class Rules(Outbox):
    """Upon-rules of one height (the middle layer of ConsensusCore)."""

    # ------------------------------------------------------------ StartRound

    def _start_round(self, round: int) -> None:
        """Lines 11-21: enter `round`; the proposer proposes validValue or asks for a value.

        A proposer schedules timeoutPropose too whenever it cannot count on receiving its own
        proposal at once: while it waits for a value, after a restart that re-sends a proposal
        whose block may be lost, and when the guard refuses to sign (`Outbox._sign`)."""
        self._round, self._step, self._awaiting_value = round, PROPOSE_STEP, False
        me = self._me
        if self._guard is None or me != proposer(self.validators, self._height, round):
            self._schedule(PROPOSE_STEP)  # line 21
            return
        restored = self._restored_proposal()
        if restored is not None:  # we proposed this round before a crash: the same proposal again
            self._resend(restored)
            # Its block may have died with us (valid(v) never answered): wait only so long.
            self._schedule(PROPOSE_STEP)
        elif "repropose_locked_value" in self.bugs and self._locked_value is not None:
            self._propose(self._locked_value, self._locked_round)  # planted bug: not line 15
        elif self._valid_value is not None:
            self._propose(self._valid_value, self._valid_round)  # lines 15-16, 19
        else:
            self._awaiting_value = True  # line 18, answered by ProposalValueSupplied
            self._out.append(ev.RequestProposalValue(self._height, round))
            self._schedule(PROPOSE_STEP)  # see "Deviation" in core.py

    # ------------------------------------------------------------ the fixed point

    def _progress(self) -> None:
        """Fire upon-rules until none applies (or the height is decided)."""
        while self._decided is None:
            if self._try_decide():
                return
            if self._try_round_skip():
                continue
            if not self._current_round_rule():
                return

    def _valid(self, block_id: BlockId) -> bool | None:
        """valid(v) if the verdict is known, else None (the rule waits)."""
        return self._log.verdicts.get(block_id)

    def _try_decide(self) -> bool:
        """Lines 49-54: a proposal and 2f+1 precommits for it in *any* round, and valid(v)."""
        if not self._dirty:
            return False
        dirty, self._dirty = sorted(self._dirty), set()
        for r in dirty:
            p = self._log.proposals.get(r)
            precommits = self._log.peek_vote_set(r, PRECOMMIT_TYPE)
            if p is None or precommits is None or not precommits.has_quorum_for(p.block_id):
                continue
            if self._valid(p.block_id) is not True:
                continue
            self._decided = p.block_id
            self._decide_count += 1
            commit = Commit(self._height, r, p.block_id, precommits.votes_for(p.block_id))
            self._out.append(ev.Decide(self._height, r, p.block_id, commit))
            return True
        return False

    def _try_round_skip(self) -> bool:
        """Lines 55-56: messages from more than 1/3 of the power at a higher round: go there."""
        total = self.validators.total_power
        for r in reversed(self._log.rounds_above(self._round)):
            if more_than_one_third(self._log.round_power(r), total):
                self._start_round(r)
                return True
        return False

    def _once(self, line: int) -> bool:
        """True the first time `line` fires in the current round ("for the first time")."""
        key = (line, self._round)
        if key in self._fired:
            return False
        self._fired.add(key)
        return True

    def _current_round_rule(self) -> bool:
        """Fire one rule of the current round (lines 22, 28, 36, 34, 44, 47); False if none."""
        r, step = self._round, self._step
        p = self._log.proposals.get(r)
        prevotes = self._log.vote_set(r, PREVOTE_TYPE)
        if step is PROPOSE_STEP and p is not None and self._on_proposal_rules(p):
            return True
        if (
            step >= PREVOTE_STEP
            and p is not None
            and prevotes.has_quorum_for(p.block_id)
            and self._valid(p.block_id) is True
            and self._once(36)
        ):
            self._line_36(p.block_id)
            return True
        if step is PREVOTE_STEP and prevotes.has_quorum_any() and self._once(34):
            self._schedule(PREVOTE_STEP)  # lines 34-35
            return True
        if step is PREVOTE_STEP and prevotes.has_quorum_for(None):
            self._step = PRECOMMIT_STEP  # lines 44-46
            self._sign_vote(PRECOMMIT_TYPE, None)
            return True
        precommits = self._log.vote_set(r, PRECOMMIT_TYPE)
        if precommits.has_quorum_any() and self._once(47):
            self._schedule(PRECOMMIT_STEP)  # lines 47-48
            return True
        return False

    def _on_proposal_rules(self, p: Proposal) -> bool:
        """Lines 22-27 (vr = -1) and 28-33 (vr >= 0, with 2f+1 prevotes of round vr)."""
        v, vr = p.block_id, p.valid_round
        if vr == -1:
            valid = self._valid(v)
            if valid is None:
                return False
            lock_ok = self._locked_round == -1 or self._locked_value == v
            if "no_lock_check_line22" in self.bugs:
                lock_ok = True  # planted bug: line 22 ignores the lock
            choice = v if valid and lock_ok else None
        else:
            polka = self._log.peek_vote_set(vr, PREVOTE_TYPE)
            if polka is None or not polka.has_quorum_for(v):
                return False  # without the round-vr polka the proposal waits (timeout: nil)
            valid = self._valid(v)
            if valid is None:
                return False
            lock_ok = self._locked_round <= vr or self._locked_value == v
            choice = v if valid and lock_ok else None
        self._step = PREVOTE_STEP
        self._sign_vote(PREVOTE_TYPE, choice)
        return True

    def _line_36(self, v: BlockId) -> None:
        """Lines 36-43: lock and precommit if still prevoting; always record validValue."""
        if "skip_valid_update_line36" not in self.bugs:
            self._valid_value, self._valid_round = v, self._round  # lines 42-43
            # ... with the polka that proves it, kept across a restart (see SignState)
            self._valid_polka = self._log.vote_set(self._round, PREVOTE_TYPE).votes_for(v)
        if self._step is PREVOTE_STEP:
            self._locked_value, self._locked_round = v, self._round  # lines 38-39
            self._step = PRECOMMIT_STEP
            self._sign_vote(PRECOMMIT_TYPE, v)  # line 40

    # ------------------------------------------------------------ invariants

    def check_invariants(self) -> None:
        """Assert what must hold between calls; a failure is a bug in this code."""
        rnd, locked_round, valid_round = self._round, self._locked_round, self._valid_round
        assert isinstance(self._step, Step) and rnd >= 0
        assert locked_round <= rnd, "lockedRound > round"
        assert valid_round <= rnd, "validRound > round"
        assert (locked_round == -1) == (self._locked_value is None)
        assert (valid_round == -1) == (self._valid_value is None)
        assert all(
            (p.type, p.round, p.block_id) == (PREVOTE_TYPE, valid_round, self._valid_value)
            for p in self._valid_polka
        ), "valid_polka is not for validValue in validRound"
        assert valid_round >= locked_round, "validRound < lockedRound"
        assert self._decide_count <= 1, "decided more than once at this height"
        own = self._own
        if own:
            own_slots = set()
            height = self._height
            for m in own:
                slot = (m.height, m.round, "proposal" if isinstance(m, Proposal) else m.type)
                assert slot not in own_slots, f"signed twice for {slot}"
                own_slots.add(slot)
                assert m.height == height
            if self._guard is not None:
                last = self._guard.last_signed
                assert last is not None and last.height == height
                assert (last.round, last.step) <= (rnd, self._step), "signed ahead of state"
        for vote_set in self._log.vote_sets_to_check():  # the sets that may have changed
            vote_set.check()
