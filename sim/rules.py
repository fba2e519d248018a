"""Rule oracles: timeouts that grow by round, and a round skip that follows voting power.

Why: two rules of Algorithm 1 exist only for liveness, and nothing else would notice if a
correct validator broke them in a run that still progressed. A core scheduling constant
timeouts never outgrows the message delay after GST; a round skip counting heads instead of
power lets a few light validators drag a validator out of its round, or keeps it in a round
that more than 1/3 of the power has left. Both are checked here from what a correct validator
does (its effects and the messages it received), with thresholds and durations computed from
the run's configuration and validator powers, never by asking the core to count.

Timeouts (lines 21, 34, 47, and the guard's refusals). Every `SetTimer` of a consensus
timeout of step s for round r at height h must expire exactly `base_s + r * delta_s` after the
instant of the step that scheduled it (the replica's clock), and that step must be one the
rule allows:
- propose: the validator entered round (h, r) in that step (StartRound, line 21), which it
  does once per height and round (per incarnation: a restarted one resumes its round);
- prevote / precommit: the validator had by then received or sent prevotes / precommits of
  (h, r) from validators holding more than 2/3 of the power (lines 34, 47), or it had already
  signed that step or a later one before the step (its guard's last signed (height, round,
  step) was at or above it): the core's deviations for a guard refusal and for a restart that
  resumes after its precommit, each of which costs a timeout, never liveness.

Round skip (line 55). A correct validator that moves from round r to r' > r at one height,
other than by timeoutPrecommit(r) taking it to r + 1, must have received messages of round r'
from distinct validators with more than 1/3 of the power; and after every step, no round above
its own may hold messages (in its log) from more than 1/3 of the power unless it decided.
Messages received count for the first check (a superset of what the core admitted, so the check
never accuses a correct core); the core's log is read for the second (what it must act on).
"""

from __future__ import annotations

import attrs

from consensus.codec import DecodeError, decode_sign_state
from consensus.messages import Proposal, Step, Vote, VoteType
from consensus.replica.events import ConsensusTimer, ReplicaEvent, SetTimer, TimerFired
from sim.checkers import Violation
from sim.config import SimConfig
from sim.node import SimNode
from sim.result import Outcome


class RuleViolation(Violation):
    """A correct validator broke a timeout or round-skip rule: rules that exist for liveness,
    so a liveness failure even in a run that progressed."""

    def __init__(self, reason: str) -> None:
        super().__init__(Outcome.LIVENESS, f"rule: {reason}")


@attrs.define
class _Instance:
    """What the checker knows of one validator instance (across its restarts)."""

    senders: dict[tuple[int, int], set[bytes]] = attrs.field(factory=dict)  # (h, r) -> keys
    voters: dict[tuple[int, int, VoteType], set[bytes]] = attrs.field(factory=dict)
    last_signed: tuple[int, int, int] | None = None  # the guard's (h, r, step), persisted
    view: tuple[int, int] | None = None  # core (height, round) before the current step
    signed_before: tuple[int, int, int] | None = None
    timers: list[tuple[SetTimer, int]] = attrs.field(factory=list)  # this step's, local now
    entered: set[tuple[int, int]] = attrs.field(factory=set)  # rounds started (incarnation)
    top: dict[int, int] = attrs.field(factory=dict)  # height -> highest round heard
    floor: int = 0  # heights below this are forgotten


class RuleChecker:
    """Timeout and round-skip rules of correct validators; see the module docstring."""

    def __init__(self, config: SimConfig, keys: list[bytes]) -> None:
        self.powers = {key: config.powers[i] for i, key in enumerate(keys)}
        self.total = sum(config.powers)
        self.base = {
            Step.PROPOSE: (config.timeout_propose_ms, config.timeout_propose_delta_ms),
            Step.PREVOTE: (config.timeout_prevote_ms, config.timeout_prevote_delta_ms),
            Step.PRECOMMIT: (config.timeout_precommit_ms, config.timeout_precommit_delta_ms),
        }
        self.instances: dict[int, _Instance] = {}
        self.timers_checked = 0
        self.skips_checked = 0

    def _of(self, node: SimNode) -> _Instance:
        found = self.instances.get(node.index)
        if found is None:
            found = self.instances[node.index] = _Instance()
        return found

    def _power(self, keys: set[bytes]) -> int:
        return sum(self.powers.get(key, 0) for key in keys)

    def expected_ms(self, step: Step, round_: int) -> int:
        base, delta = self.base[step]
        return base + round_ * delta

    # ------------------------------------------------------------ observations

    def heard(self, node: SimNode, message: Proposal | Vote) -> None:
        """`node` received (or sent) a signed consensus message."""
        state = self._of(node)
        if message.height < state.floor:
            return
        key = message.proposer if isinstance(message, Proposal) else message.validator
        state.senders.setdefault((message.height, message.round), set()).add(key)
        if message.round > state.top.get(message.height, -1):
            state.top[message.height] = message.round
        if isinstance(message, Vote):
            slot = (message.height, message.round, message.type)
            state.voters.setdefault(slot, set()).add(key)

    def persisted(self, node: SimNode, data: bytes) -> None:
        """The guard's state as persisted (what it will refuse to sign again)."""
        try:
            last = decode_sign_state(data).last_signed
        except DecodeError:
            return  # the safety checker reports junk
        if last is not None:
            self._of(node).last_signed = (last.height, last.round, int(last.step))

    def timer(self, node: SimNode, effect: SetTimer, local_now_ms: int) -> None:
        if isinstance(effect.timer, ConsensusTimer):
            self._of(node).timers.append((effect, local_now_ms))

    # ------------------------------------------------------------ steps

    def begin(self, node: SimNode, starting: bool) -> None:
        """Before `node` handles an event (or starts: then it enters whatever round it
        resumes, and no round change is a skip). Correct validators only."""
        if not node.correct:
            return
        state = self._of(node)
        state.view = None
        if starting:
            state.entered.clear()
        elif (replica := node.replica) is not None:
            core = replica.core
            state.view = (core.height, core.round)
        state.signed_before = state.last_signed
        if state.timers:
            state.timers = []

    def end(self, node: SimNode, event: ReplicaEvent | None) -> None:
        """After the step: check its timers and round change (correct validators only)."""
        if not node.correct:
            return
        state = self._of(node)
        replica = node.replica
        after = None
        if replica is not None and node.up:
            core = replica.core
            after = (core.height, core.round)
        if state.timers:
            timers, state.timers = state.timers, []
            for effect, local_now in timers:
                self._check_timer(node, state, effect, local_now, after)
        if after is None:
            return
        view = state.view
        if view is not None and view != after:  # a height begun in a step starts at round 0
            before = view[1] if view[0] == after[0] else 0
            self._check_round_change(node, state, event, before, after)
        if state.top.get(after[0], -1) > after[1]:  # the log holds only what was heard
            self._check_no_skip_pending(node, after)
        if after[0] > state.floor + 1:
            self._forget_below(state, after[0])

    def _check_timer(
        self,
        node: SimNode,
        state: _Instance,
        effect: SetTimer,
        local_now: int,
        after: tuple[int, int] | None,
    ) -> None:
        timer = effect.timer
        assert isinstance(timer, ConsensusTimer)
        h, r, step = timer.height, timer.round, timer.step
        self.timers_checked += 1
        wanted = self.expected_ms(step, r)
        if effect.deadline_ms - local_now != wanted:
            raise RuleViolation(
                f"{node.name} scheduled timeout {step.name.lower()} of height {h} round {r} "
                f"to expire {effect.deadline_ms - local_now} ms after it was set; the "
                f"configuration says {wanted} ms ({self.base[step][0]} + {r} x "
                f"{self.base[step][1]})"
            )
        refused = state.signed_before is not None and state.signed_before >= (h, r, int(step))
        if step is Step.PROPOSE:
            if (h, r) in state.entered and not refused:
                raise RuleViolation(
                    f"{node.name} scheduled timeout propose of height {h} round {r} twice: "
                    "a round is entered once (StartRound, line 21)"
                )
            state.entered.add((h, r))
            return
        vote_type = VoteType.PREVOTE if step is Step.PREVOTE else VoteType.PRECOMMIT
        voters = state.voters.get((h, r, vote_type), set())
        if refused or 3 * self._power(voters) > 2 * self.total:
            return
        raise RuleViolation(
            f"{node.name} scheduled timeout {step.name.lower()} of height {h} round {r} "
            f"having heard {vote_type.name.lower()}s of that round from "
            f"{self._power(voters)}/{self.total} of the power (needs more than 2/3)"
        )

    def _check_round_change(
        self,
        node: SimNode,
        state: _Instance,
        event: ReplicaEvent | None,
        before: int,
        after: tuple[int, int],
    ) -> None:
        height, now = after
        if now < before:
            raise RuleViolation(f"{node.name} went back from round {before} to {now} at {height}")
        if now == before:
            return
        timed_out = (
            isinstance(event, TimerFired)
            and isinstance(event.timer, ConsensusTimer)
            and event.timer == ConsensusTimer(height, before, Step.PRECOMMIT)
        )
        if timed_out and now == before + 1:
            return
        self.skips_checked += 1
        senders = state.senders.get((height, now), set())
        if 3 * self._power(senders) <= self.total:
            raise RuleViolation(
                f"{node.name} skipped from round {before} to {now} at height {height} having "
                f"heard round {now} from {len(senders)} validators with "
                f"{self._power(senders)}/{self.total} of the power (needs more than 1/3)"
            )

    def _check_no_skip_pending(self, node: SimNode, after: tuple[int, int]) -> None:
        replica = node.replica
        assert replica is not None
        core = replica.core
        if core.decided is not None or core.height != replica.height:
            return
        for rnd in core.rounds():
            if rnd <= after[1]:
                continue
            keys = {v.validator for t in VoteType for v in core.votes(rnd, t)}
            proposal = core.proposal(rnd)
            if proposal is not None:
                keys.add(proposal.proposer)
            if 3 * self._power(keys) > self.total:
                raise RuleViolation(
                    f"{node.name} stays in round {after[1]} at height {after[0]} although "
                    f"its log holds round {rnd} messages from {self._power(keys)}/"
                    f"{self.total} of the power (more than 1/3: line 55 must move it there)"
                )

    @staticmethod
    def _forget_below(state: _Instance, height: int) -> None:
        state.floor = height - 1
        state.senders = {k: v for k, v in state.senders.items() if k[0] >= state.floor}
        state.voters = {k: v for k, v in state.voters.items() if k[0] >= state.floor}
        state.entered = {k for k in state.entered if k[0] >= state.floor}
        state.top = {h: r for h, r in state.top.items() if h >= state.floor}
