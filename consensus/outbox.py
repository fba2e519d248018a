"""How the core speaks and remembers: signing through the guard, persist-then-broadcast, and
feeding every message (our own included) into the height's log.

`Outbox` is the base of `Rules` and `ConsensusCore`: it owns the state fields they share and the
only path by which a signature leaves the core. Effects collect in `_out` during one call.
"""

from __future__ import annotations

from consensus import events as ev
from consensus.events import Effect
from consensus.guard import SignGuard
from consensus.height_log import HeightLog
from consensus.messages import (
    MAX_KEPT_OWN_VOTES,
    BlockId,
    Proposal,
    SignedRecord,
    SignState,
    Step,
    ValidatorSet,
    Vote,
    VoteType,
)
from consensus.signing import (
    message_step,
    proposal_from_sign_bytes,
    proposal_sign_bytes,
    vote_from_sign_bytes,
    vote_sign_bytes,
)
from consensus.timeouts import TimeoutConfig
from consensus.votes import CONFLICT, DUPLICATE


class Outbox:
    """State shared by the core's layers, and the helpers that emit effects."""

    chain_id: str
    validators: ValidatorSet
    timeouts: TimeoutConfig
    bugs: frozenset[str]
    _me: bytes | None
    _guard: SignGuard | None
    _last_signed_at_start: SignedRecord | None
    _now_ms: int
    _height: int
    _round: int
    _step: Step
    _locked_round: int
    _locked_value: BlockId | None
    _valid_round: int
    _valid_value: BlockId | None
    _valid_polka: tuple[Vote, ...]
    _log: HeightLog
    _decided: BlockId | None
    _decide_count: int
    _own: list[Proposal | Vote]
    _awaiting_value: bool
    _dirty: set[int]
    _fired: set[tuple[int, int]]
    _out: list[Effect]

    @property
    def sign_state(self) -> SignState:
        return SignState(
            height=self._height,
            round=self._round,
            step=self._step,
            locked_round=self._locked_round,
            locked_value=self._locked_value,
            valid_round=self._valid_round,
            valid_value=self._valid_value,
            valid_polka=self._valid_polka,
            own_votes=tuple(m for m in self._own if isinstance(m, Vote))[-MAX_KEPT_OWN_VOTES:],
            last_signed=self._last_signed(),
        )

    def _store_proposal(self, p: Proposal) -> None:
        self._log.proposals[p.round] = p
        self._log.note_sender(p.round, p.proposer, self.validators.power_of(p.proposer))
        self._dirty.add(p.round)
        if p.block_id not in self._log.verdicts and p.block_id not in self._log.requested:
            self._log.requested.add(p.block_id)
            self._out.append(ev.RequestValidity(self._height, p.block_id))

    def _add_vote(self, v: Vote, power: int) -> None:
        result = self._log.add_vote(v, power)
        if result is CONFLICT:  # evidence; the vote also counts for its own value
            self._out.append(ev.ReportEvidence(self._log.evidence[-1]))
        if result is not DUPLICATE or "double_count_vote" in self.bugs:
            self._dirty.add(v.round)

    def _sign(self, message: Proposal | Vote) -> Proposal | Vote | None:
        """Sign `message` through the guard; emit persist-then-broadcast; log it as received."""
        if self._guard is None or self._me is None:
            return None
        # Built directly rather than with attrs.evolve (the same values, without its field
        # introspection: this runs for every signature).
        signed: Proposal | Vote
        if isinstance(message, Proposal):
            p = message
            message = Proposal(p.height, p.round, p.valid_round, p.block_id, self._me, b"")
            sign_bytes = proposal_sign_bytes(self.chain_id, message)
        else:
            v = message
            if v.validator != self._me or v.signature != b"":
                message = Vote(v.type, v.height, v.round, v.block_id, self._me, b"")
            sign_bytes = vote_sign_bytes(self.chain_id, message)
        step = message_step(message)
        signature = self._guard.sign(message.height, message.round, step, sign_bytes)
        if signature is None:
            # Refused: we signed something else at or above this step before a restart. Silence,
            # but never a stall: the step's timeout still moves us on (lines 57-66).
            self._schedule(step)
            return None
        if isinstance(message, Proposal):
            p = message
            signed = Proposal(p.height, p.round, p.valid_round, p.block_id, p.proposer, signature)
        else:
            v = message
            signed = Vote(v.type, v.height, v.round, v.block_id, v.validator, signature)
        if signed in self._own:  # the stored signature of a message restored and re-sent
            return signed
        persist, send = ev.PersistSignState(self.sign_state), ev.Broadcast(signed)
        if "send_before_persist" in self.bugs:
            self._out += [send, persist]
        else:
            self._out += [persist, send]
        self._log_own(signed)
        return signed

    def _log_own(self, signed: Proposal | Vote) -> None:
        """Remember a message we signed and feed it into the log, as if it had arrived."""
        assert self._me is not None
        self._own.append(signed)
        if isinstance(signed, Proposal):
            self._store_proposal(signed)
        else:
            self._add_vote(signed, self.validators.power_of(self._me))

    def _resend(self, signed: Proposal | Vote) -> None:
        """Send again a message restored from the persisted sign state (it may never have left
        before the crash), and count it: it is a real message of this validator."""
        self._out += [ev.PersistSignState(self.sign_state), ev.Broadcast(signed)]
        self._log_own(signed)

    def _resend_all(self, votes: list[Vote]) -> None:
        """Send again, and count, votes of this height restored from the sign state (where
        they are already durable: the state persisted first names them all)."""
        if not votes:
            return
        for vote in votes:
            self._log_own(vote)
        self._out.append(ev.PersistSignState(self.sign_state))
        self._out += [ev.Broadcast(vote) for vote in votes]

    def _sign_vote(self, vote_type: VoteType, block_id: BlockId | None) -> None:
        self._sign(Vote(vote_type, self._height, self._round, block_id, self._me or b""))

    def _propose(self, block_id: BlockId, valid_round: int) -> None:
        self._sign(Proposal(self._height, self._round, valid_round, block_id, b""))

    def _last_signed(self) -> SignedRecord | None:
        """`sign_state.last_signed`, without building the whole sign state."""
        return self._guard.last_signed if self._guard else self._last_signed_at_start

    def _restored_proposal(self) -> Proposal | None:
        """Our own proposal for the current round, if the persisted guard says we signed one."""
        last = self._last_signed()
        if last is None or (last.height, last.round, last.step) != (
            self._height,
            self._round,
            Step.PROPOSE,
        ):
            return None
        try:
            p = proposal_from_sign_bytes(self.chain_id, last.sign_bytes, last.signature)
        except ValueError:
            return None
        return p if (p.height, p.round, p.proposer) == (last.height, last.round, self._me) else None

    def _restored_vote(self) -> Vote | None:
        """Our own last vote of the current height, if the persisted guard says we signed one
        (rebuilt from its sign bytes and stored signature: byte-identical, so the guard agrees)."""
        last = self._last_signed()
        if last is None or last.height != self._height or last.step is Step.PROPOSE:
            return None
        try:
            v = vote_from_sign_bytes(self.chain_id, last.sign_bytes, last.signature)
        except ValueError:
            return None
        rebuilt = (v.height, v.round, v.type.step, v.validator)
        return v if rebuilt == (last.height, last.round, last.step, self._me) else None

    def _schedule(self, step: Step) -> None:
        deadline_ms = self._now_ms + self.timeouts.duration_ms(step, self._round)
        self._out.append(ev.ScheduleTimeout(deadline_ms, self._height, self._round, step))
