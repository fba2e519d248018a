"""The Tendermint consensus core: Algorithm 1 of arXiv 1807.04938 as a sans-IO state machine.

Theory of operation
-------------------
One `ConsensusCore` runs one validator's view of one height at a time. Its state is the paper's:
`round`, `step` (PROPOSE < PREVOTE < PRECOMMIT), lockedValue/lockedRound, validValue/validRound,
plus the message log of the height (`HeightLog`) and the double-sign guard (`SignGuard`).

Input arrives through `handle(event, now_ms)`; the reply is the list of effects a driver must
execute in order. Dispatch is a (step, input kind) table, `consensus.dispatch.DISPATCH`. Each entry
either ignores the input (a stale timeout, a late proposal value) or admits it: messages are checked
for shape, height, membership/proposer and signature (once, here) and stored. Rejected input yields
`InputRejected` and leaves state unchanged.

After anything is admitted, `_progress()` evaluates the paper's upon-rules to a fixed point (as
h11 does with state-triggered transitions), in this order: decide (line 49) for rounds that
received something, round skip (55), then the rules of the current round (22/28, 36, 34, 44,
47). Each firing changes state, so the loop ends. Rules that need valid(v) wait for a
`ValidityVerdict`; the core asks once per block id with `RequestValidity`.

Own messages: everything signed goes through `Outbox._sign()` (consensus/outbox.py), which consults
the guard, emits `PersistSignState` (carrying the new state) and then `Broadcast`, and feeds the
message back into the log, exactly as if it had arrived from the network. Steps change *before*
signing, so the persisted state is always the state after the signature.

Restart: a core built from a persisted `SignState` resumes its height at the persisted round,
lock and valid value, and counts again the polka behind its valid value (it re-proposes that
value with its valid round, and may be the last holder of those prevotes). The messages it
signed at the height may never have left the node, so they are sent again, byte-identical, and
counted in the log like any own message: every vote of the height (`own_votes`), oldest first,
then the last message signed (sign bytes and signature): a restored vote puts the core back in
the step it was signed in, a restored proposal is re-proposed at the start of its round.
Anything else the guard refuses to sign (at or below the last signed (height, round, step)) is
silence; the step's timeout is still scheduled, so a refusal costs a timeout, never liveness.

Deviations from the letter of the paper, for an asynchronous driver: a proposer still waiting
for its driver to supply a value (`RequestProposalValue`, line 18) schedules timeoutPropose like
everyone else, so a slow or silent driver costs a round, not liveness; so does a restarted
proposer that re-sends its proposal (its block may be lost) or whose proposal the guard refuses.
A validator restarted after its precommit of the round it resumes in schedules timeoutPrecommit
at once (rule 47 waits for 2f+1 precommits): its prevote of that round is not in its sign state,
and if every peer crashed too, a round whose polka needed that prevote would never end.
"""

from __future__ import annotations

from consensus import events as ev
from consensus.admission import is_block_id
from consensus.codec import validate_validator_set
from consensus.crypto import ED25519, SignatureScheme, Signer
from consensus.dispatch import DISPATCH, INPUT_KINDS, kind_of
from consensus.events import Effect, Event
from consensus.events import RejectCode as Code
from consensus.guard import SignGuard
from consensus.height_log import HeightLog
from consensus.messages import (
    BlockId,
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    SignState,
    Step,
    ValidatorSet,
    Vote,
    VoteType,
)
from consensus.proposer import proposer
from consensus.rules import Rules
from consensus.signing import verify_proposal, verify_vote
from consensus.timeouts import TimeoutConfig

__all__ = ["DEFAULT_TIMEOUTS", "INPUT_KINDS", "KNOWN_BUGS", "ConsensusCore"]

DEFAULT_TIMEOUTS = TimeoutConfig()

KNOWN_BUGS = frozenset(
    {
        "no_lock_check_line22",
        "double_count_vote",
        "send_before_persist",
        "skip_valid_update_line36",
        "repropose_locked_value",
    }
)


class ConsensusCore(Rules):
    """One validator's Tendermint state machine; see the module docstring."""

    def __init__(
        self,
        *,
        chain_id: str,
        validators: ValidatorSet,
        signer: Signer | None,
        scheme: SignatureScheme = ED25519,
        timeouts: TimeoutConfig = DEFAULT_TIMEOUTS,
        sign_state: SignState | None = None,
        bugs: frozenset[str] = frozenset(),
    ) -> None:
        if type(chain_id) is not str or not chain_id:
            raise ValueError("chain_id must be a non-empty str")
        validate_validator_set(validators)
        if not isinstance(timeouts, TimeoutConfig):
            raise ValueError("timeouts must be a TimeoutConfig")
        if sign_state is not None and not isinstance(sign_state, SignState):
            raise ValueError("sign_state must be a SignState or None")
        unknown = set(bugs) - KNOWN_BUGS
        if unknown:
            raise ValueError(f"unknown planted bugs: {sorted(unknown)}")
        self.chain_id = chain_id
        self.validators = validators
        self.scheme = scheme
        self.timeouts = timeouts
        self.bugs = frozenset(bugs)
        self._restored = sign_state
        last = sign_state.last_signed if sign_state is not None else None
        self._me = signer.public_key if signer is not None else None
        can_sign = signer is not None and validators.is_member(signer.public_key)
        self._guard = SignGuard(signer, last) if signer is not None and can_sign else None
        self._last_signed_at_start = last
        self._height = sign_state.height if sign_state is not None else 0
        self._started = False
        self._now_ms = 0
        self._out: list[Effect] = []
        self._version = 0  # bumped by every entry point that may change state (see `version`)
        self._reset_height()

    def _reset_height(self) -> None:
        self._round = 0
        self._step = Step.PROPOSE
        self._locked_round, self._locked_value = -1, None
        self._valid_round, self._valid_value = -1, None
        self._valid_polka = ()
        self._log = HeightLog(
            self.validators.total_power, double_count="double_count_vote" in self.bugs
        )
        self._decided: BlockId | None = None
        self._decide_count = 0
        self._own: list[Proposal | Vote] = []
        self._awaiting_value = False
        self._dirty: set[int] = set()
        self._fired: set[tuple[int, int]] = set()  # (paper line, round) of once-per-round rules

    # ------------------------------------------------------------ public state

    @property
    def height(self) -> int:
        return self._height

    @property
    def round(self) -> int:
        return self._round

    @property
    def step(self) -> Step:
        return self._step

    @property
    def decided(self) -> BlockId | None:
        return self._decided

    @property
    def version(self) -> int:
        """Changes whenever the core may have changed state: every call of `handle` and
        `start_height` that gets past its input checks. Equal versions of one core mean equal
        states, so a caller may skip re-checking invariants it checked at that version."""
        return self._version

    # ------------------------------------------------------------ entry points

    def start_height(self, height: int, now_ms: int) -> list[Effect]:
        """Enter `height` (paper StartRound(0)), resuming a restored sign state at that height."""
        if type(height) is not int or height < 1:
            raise ValueError(f"height must be an int >= 1, got {height!r}")
        if self._started and height <= self._height:
            raise ValueError(f"already at height {self._height}; cannot start {height}")
        restored = self._restored
        last = self._last_signed()
        if (restored is not None and height < restored.height) or (
            last is not None and height < last.height
        ):
            raise ValueError(f"the sign state is beyond height {height}: refusing to go back")
        self._begin(now_ms)
        self._height = height
        self._reset_height()
        start_round = 0
        earlier: tuple[Vote, ...] = ()
        if restored is not None and restored.height == height:
            earlier = restored.own_votes
            start_round = restored.round
            self._locked_round, self._locked_value = restored.locked_round, restored.locked_value
            self._valid_round, self._valid_value = restored.valid_round, restored.valid_value
            self._restore_polka(restored.valid_polka)
        self._restored = None
        self._started = True
        self._round = start_round
        vote = self._restored_vote()
        resend = vote is not None and vote.round <= start_round
        if resend and vote is not None and vote.round == start_round:
            self._step = vote.type.step  # see below
        # Every other vote we signed at this height may have been lost with us too, and the
        # others may wait for it (2f+1 votes of a round): send them all again, oldest first.
        self._resend_all([v for v in earlier if v != vote and v.validator == self._me])
        if resend and vote is not None:
            # We voted at this height before a crash; the vote may never have left the node, so
            # send it again and count it. Voted in this very round: resume in the state
            # persisted with that vote (the guard refuses anything else below it).
            self._resend(vote)
            if self._step is Step.PRECOMMIT:
                # Our prevote of this round is lost if every peer lost it too, and only we
                # could send it: a polka that needed it never forms and nobody times out.
                self._schedule(Step.PRECOMMIT)
        if self._step is Step.PROPOSE:
            self._start_round(start_round)
        self._progress()
        return self._finish()

    def _restore_polka(self, polka: tuple[Vote, ...]) -> None:
        """Count again the polka behind our restored valid value (our own durable record, as
        trusted as the lock beside it), so that we hold it and can serve it: after a restart we
        re-propose that value with its valid round, and our log may be the last place its
        prevotes exist (see `SignState`)."""
        self._valid_polka = polka
        for vote in polka:
            power = self.validators.power_of(vote.validator)
            if power and not self._log.has_vote(vote):
                self._add_vote(vote, power)

    def handle(self, event: Event, now_ms: int) -> list[Effect]:
        """Apply one event; return the effects to execute, in order. Never raises on bad input."""
        if type(now_ms) is not int or now_ms < 0:
            return [ev.InputRejected("now_ms must be a non-negative int", code=Code.MISUSE)]
        if not self._started:
            return [ev.InputRejected("start_height() has not been called", code=Code.MISUSE)]
        kind, problem = kind_of(event)
        if problem is not None:
            return [ev.InputRejected(problem, code=Code.MALFORMED)]
        self._version += 1  # `_begin` and `_finish`, inline: this runs for every message
        self._now_ms = now_ms
        self._out = []
        getattr(self, DISPATCH[self._step, kind])(event)
        out, self._out = self._out, []
        return out

    def _begin(self, now_ms: int) -> None:
        self._version += 1
        self._now_ms = now_ms
        self._out = []

    def _finish(self) -> list[Effect]:
        out, self._out = self._out, []
        return out

    def _reject(self, code: Code, reason: str, sender: bytes | None = None) -> None:
        self._out.append(ev.InputRejected(reason, sender, code))

    # ------------------------------------------------------------ handlers

    def _on_proposal(self, event: ev.ProposalReceived) -> None:
        """Admit a proposal (for lines 22, 28, 36, 49); one per round, from proposer(h, r)."""
        p = event.proposal
        if p.height != self._height:
            return self._reject(
                Code.OTHER_HEIGHT, f"proposal for height {p.height} at {self._height}", p.proposer
            )
        known = self._log.proposals.get(p.round)
        if known == p:
            return None
        if known is not None:
            return self._reject(
                Code.CONFLICTING_PROPOSAL, "a different proposal for this round exists", p.proposer
            )
        if p.proposer != proposer(self.validators, p.height, p.round):
            return self._reject(Code.WRONG_PROPOSER, "not the proposer of this round", p.proposer)
        if not self._log.admits_round(p.proposer, p.round, self._round):
            return self._reject(
                Code.FUTURE_ROUND, "too many future rounds from this sender", p.proposer
            )
        if not verify_proposal(self.scheme, self.chain_id, p):
            return self._reject(Code.BAD_SIGNATURE, "bad proposal signature", p.proposer)
        self._store_proposal(p)
        self._progress()
        return None

    def _on_vote(self, event: ev.VoteReceived) -> None:
        """Admit a vote (for lines 28, 34, 36, 44, 47, 49, 55); equivocation becomes evidence."""
        v = event.vote
        if v.height != self._height:
            return self._reject(
                Code.OTHER_HEIGHT, f"vote for height {v.height} at {self._height}", v.validator
            )
        if self._log.has_vote(v) and "double_count_vote" not in self.bugs:
            return None
        power = self.validators.power_of(v.validator)
        if power == 0:
            return self._reject(Code.NOT_A_VALIDATOR, "vote from a non-member", v.validator)
        if not self._log.admits_round(v.validator, v.round, self._round):
            return self._reject(
                Code.FUTURE_ROUND, "too many future rounds from this sender", v.validator
            )
        if not verify_vote(self.scheme, self.chain_id, v):
            return self._reject(Code.BAD_SIGNATURE, "bad vote signature", v.validator)
        self._add_vote(v, power)
        self._progress()
        return None

    def _on_timeout_propose(self, event: ev.TimeoutElapsed) -> None:
        """Lines 57-60: no acceptable proposal in time, prevote nil."""
        if self._is_current(event) and self._decided is None:
            self._step = Step.PREVOTE
            self._sign_vote(VoteType.PREVOTE, None)
            self._progress()

    def _on_timeout_prevote(self, event: ev.TimeoutElapsed) -> None:
        """Lines 61-64: no prevote quorum for a value in time, precommit nil."""
        if self._is_current(event) and self._decided is None:
            self._step = Step.PRECOMMIT
            self._sign_vote(VoteType.PRECOMMIT, None)
            self._progress()

    def _on_timeout_precommit(self, event: ev.TimeoutElapsed) -> None:
        """Lines 65-67: the round failed to decide, start the next one (any step)."""
        if event.height == self._height and event.round == self._round and not self._decided:
            self._start_round(self._round + 1)
            self._progress()

    def _is_current(self, event: ev.TimeoutElapsed) -> bool:
        return (event.height, event.round) == (self._height, self._round)

    def _on_value(self, event: ev.ProposalValueSupplied) -> None:
        """Lines 18-19: the driver's getValue() answer; propose it if we still wait for it."""
        current = (event.height, event.round) == (self._height, self._round)
        if not (current and self._awaiting_value and self._decided is None):
            return None
        if not is_block_id(event.block_id):
            return self._reject(Code.MALFORMED, "a proposal value is a 32-byte block id")
        self._awaiting_value = False
        self._log.verdicts.setdefault(event.block_id, True)  # our own value is valid
        self._propose(event.block_id, -1)
        self._progress()
        return None

    def _on_verdict(self, event: ev.ValidityVerdict) -> None:
        """valid(v) arrives: the rules waiting on it (lines 22, 28, 36, 49) may fire."""
        if event.height != self._height:
            return None
        if not is_block_id(event.block_id) or type(event.valid) is not bool:
            return self._reject(Code.MALFORMED, "malformed validity verdict")
        known = self._log.verdicts.get(event.block_id)
        if known is not None:
            return (
                None
                if known == event.valid
                else self._reject(Code.MISUSE, "valid(v) changed its answer")
            )
        self._log.verdicts[event.block_id] = event.valid
        self._dirty.update(
            r for r, p in self._log.proposals.items() if p.block_id == event.block_id
        )
        self._progress()
        return None

    def _ignore(self, event: Event) -> None:
        """A stale timeout or a late proposal value: nothing to do (not an error)."""

    # ------------------------------------------------------------ read-only queries

    def proposal(self, round: int) -> Proposal | None:
        return self._log.proposals.get(round)

    def votes(self, round: int, vote_type: VoteType) -> tuple[Vote, ...]:
        """Every vote counted at (round, type), an equivocator's conflicting one included."""
        found = self._log.peek_vote_set(round, vote_type)
        return found.votes() if found is not None else ()

    def has_quorum(self, round: int, vote_type: VoteType, value: BlockId | None) -> bool:
        """2f+1 votes of `vote_type` for `value` at `round` of this height, as the rules count."""
        found = self._log.peek_vote_set(round, vote_type)
        return found is not None and found.has_quorum_for(value)

    def rounds(self) -> tuple[int, ...]:
        return self._log.rounds()

    def own_messages(self) -> tuple[Proposal | Vote, ...]:
        return tuple(self._own)

    def awaits_validity(self, block_id: BlockId) -> bool:
        """True if we asked valid(v) for `block_id` (`RequestValidity`, once per block) and
        have no answer yet: a driver that lacked the block then must answer once it has it."""
        return block_id in self._log.requested and block_id not in self._log.verdicts

    def commit_for(self, block_id: BlockId) -> Commit | None:
        for round_ in self._log.rounds():
            found = self._log.peek_vote_set(round_, VoteType.PRECOMMIT)
            if found is not None and found.has_quorum_for(block_id):
                return Commit(self._height, round_, block_id, found.votes_for(block_id))
        return None

    def evidence(self) -> tuple[DuplicateVoteEvidence, ...]:
        return tuple(self._log.evidence)
