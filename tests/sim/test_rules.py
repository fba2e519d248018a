"""The rule oracles (sim/rules.py): a trace that breaks a rule is flagged, a correct one is not.

The checker is driven here by hand, with a stand-in for a validator (its core's height, round
and log) and the effects a step produced, exactly as the runner feeds it; whole runs (clean
and with the planted bugs) are in test_liveness.py.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from consensus.messages import Proposal, Step, Vote, VoteType
from consensus.replica.events import ConsensusTimer, SetTimer, TimerFired
from sim.rules import RuleChecker, RuleViolation
from sim.swarm import derive_config

KEYS = [bytes([i]) * 32 for i in range(4)]
POWERS = (1, 1, 1, 7)  # heads and power disagree: three of four heads hold 3/10 of the power
CONFIG = derive_config(
    1, {"validators": 4, "powers": POWERS, "byzantine": (), "twins": (), "power_profile": "random"}
)
H = 5


@attrs.define
class FakeCore:
    height: int = H
    round: int = 0
    decided: bytes | None = None
    log: list[Proposal | Vote] = attrs.field(factory=list)

    def rounds(self) -> tuple[int, ...]:
        return tuple(sorted({m.round for m in self.log}))

    def votes(self, rnd: int, vote_type: VoteType) -> tuple[Vote, ...]:
        return tuple(
            m for m in self.log if isinstance(m, Vote) and m.round == rnd and m.type == vote_type
        )

    def proposal(self, rnd: int) -> Proposal | None:
        return next((m for m in self.log if isinstance(m, Proposal) and m.round == rnd), None)


@attrs.define
class FakeReplica:
    core: FakeCore = attrs.field(factory=FakeCore)

    @property
    def height(self) -> int:
        return self.core.height


@attrs.define
class FakeNode:
    index: int = 0
    name: str = "v0"
    correct: bool = True
    up: bool = True
    replica: FakeReplica = attrs.field(factory=FakeReplica)


def vote(who: int, rnd: int, vote_type: VoteType = VoteType.PREVOTE) -> Vote:
    return Vote(vote_type, H, rnd, b"b" * 32, KEYS[who], b"s" * 64)


def timer(rnd: int, step: Step, after_ms: int, now_ms: int = 1000) -> SetTimer:
    return SetTimer(now_ms + after_ms, ConsensusTimer(H, rnd, step))


class Driver:
    """Feeds the checker one step at a time, as the runner does."""

    def __init__(self) -> None:
        self.rules = RuleChecker(CONFIG, KEYS)
        self.node = FakeNode()
        self.rules.begin(self._node, starting=True)
        self.rules.end(self._node, None)

    @property
    def _node(self) -> Any:
        return self.node

    def hear(self, *messages: Proposal | Vote) -> None:
        for m in messages:
            self.rules.heard(self._node, m)

    def step(
        self,
        *timers: SetTimer,
        to_round: int | None = None,
        event: Any = None,
        now_ms: int = 1000,
    ) -> None:
        self.rules.begin(self._node, starting=False)
        for t in timers:
            self.rules.timer(self._node, t, now_ms)
        if to_round is not None:
            self.node.replica.core.round = to_round
        self.rules.end(self._node, event)


def expected(step: Step, rnd: int) -> int:
    base = {Step.PROPOSE: "propose", Step.PREVOTE: "prevote", Step.PRECOMMIT: "precommit"}[step]
    return getattr(CONFIG, f"timeout_{base}_ms") + rnd * getattr(CONFIG, f"timeout_{base}_delta_ms")


def test_timeouts_that_grow_as_configured_pass() -> None:
    d = Driver()
    d.step(timer(0, Step.PROPOSE, expected(Step.PROPOSE, 0)))
    d.hear(vote(3, 0), vote(0, 0))  # 8/10 of the power prevoted
    d.step(timer(0, Step.PREVOTE, expected(Step.PREVOTE, 0)))
    d.hear(*(vote(k, 0, VoteType.PRECOMMIT) for k in (1, 3)))
    d.step(timer(0, Step.PRECOMMIT, expected(Step.PRECOMMIT, 0)))
    event = TimerFired(ConsensusTimer(H, 0, Step.PRECOMMIT))
    d.step(timer(1, Step.PROPOSE, expected(Step.PROPOSE, 1)), to_round=1, event=event)
    d.hear(vote(3, 7))  # a round skip: 7/10 of the power is at round 7
    d.step(timer(7, Step.PROPOSE, expected(Step.PROPOSE, 7)), to_round=7)
    assert d.rules.timers_checked == 5


@pytest.mark.parametrize("step", list(Step))
def test_a_timeout_that_does_not_grow_by_round_is_flagged(step: Step) -> None:
    d = Driver()
    d.hear(*(vote(k, 3, t) for k in range(4) for t in VoteType))
    constant = expected(step, 0)
    with pytest.raises(RuleViolation, match="the configuration says"):
        d.step(timer(3, step, constant))


def test_a_prevote_timeout_before_two_thirds_of_the_power_prevoted_is_flagged() -> None:
    d = Driver()
    d.hear(vote(0, 0), vote(1, 0), vote(2, 0))  # three of four heads, 3/10 of the power
    with pytest.raises(RuleViolation, match="3/10 of the power"):
        d.step(timer(0, Step.PREVOTE, expected(Step.PREVOTE, 0)))


def test_a_precommit_timeout_needs_precommits_not_prevotes() -> None:
    d = Driver()
    d.hear(*(vote(k, 0) for k in range(4)))
    with pytest.raises(RuleViolation, match="precommits of that round"):
        d.step(timer(0, Step.PRECOMMIT, expected(Step.PRECOMMIT, 0)))


def test_a_refused_signature_may_schedule_its_timeout_without_a_quorum() -> None:
    d = Driver()
    d.rules.instances[0].last_signed = (H, 2, int(Step.PRECOMMIT))  # signed before a restart
    d.step(timer(1, Step.PREVOTE, expected(Step.PREVOTE, 1)))
    d.step(timer(2, Step.PRECOMMIT, expected(Step.PRECOMMIT, 2)))
    with pytest.raises(RuleViolation):
        d.step(timer(3, Step.PREVOTE, expected(Step.PREVOTE, 3)))


def test_a_timeout_set_from_another_instant_is_flagged() -> None:
    d = Driver()
    d.hear(*(vote(k, 0) for k in range(4)))
    late = timer(0, Step.PREVOTE, expected(Step.PREVOTE, 0), now_ms=900)  # from round start
    with pytest.raises(RuleViolation, match="expire"):
        d.step(late, now_ms=1000)


def test_entering_one_round_twice_is_flagged() -> None:
    d = Driver()
    d.step(timer(0, Step.PROPOSE, expected(Step.PROPOSE, 0)))
    with pytest.raises(RuleViolation, match="twice"):
        d.step(timer(0, Step.PROPOSE, expected(Step.PROPOSE, 0)))


def test_a_round_skip_needs_more_than_a_third_of_the_power_not_of_the_heads() -> None:
    d = Driver()
    d.hear(vote(0, 4), vote(1, 4), vote(2, 4, VoteType.PRECOMMIT))  # 3 heads, 3/10 power
    with pytest.raises(RuleViolation, match="3/10 of the power"):
        d.step(to_round=4)


def test_a_round_skip_by_power_passes() -> None:
    d = Driver()
    d.hear(vote(3, 4))  # one head, 7/10 of the power
    d.step(to_round=4)
    assert d.rules.skips_checked == 1


def test_a_precommit_timeout_moves_one_round_without_a_skip() -> None:
    d = Driver()
    d.step(to_round=1, event=TimerFired(ConsensusTimer(H, 0, Step.PRECOMMIT)))
    with pytest.raises(RuleViolation, match="skipped from round 1 to 3"):
        d.step(to_round=3, event=TimerFired(ConsensusTimer(H, 1, Step.PRECOMMIT)))


def test_a_round_never_goes_back() -> None:
    d = Driver()
    d.step(to_round=1, event=TimerFired(ConsensusTimer(H, 0, Step.PRECOMMIT)))
    with pytest.raises(RuleViolation, match="went back"):
        d.step(to_round=0)


def test_staying_behind_a_third_of_the_power_is_flagged_unless_decided() -> None:
    d = Driver()
    core = d.node.replica.core
    core.log.append(vote(3, 2))  # the core holds a round-2 message from 7/10 of the power
    d.hear(vote(3, 2), vote(0, 2), vote(1, 2), vote(2, 2))  # as it arrived
    with pytest.raises(RuleViolation, match="line 55 must move it there"):
        d.step()
    core.decided = b"d" * 32
    d.step()
    core.decided, core.log[:] = None, [vote(0, 2), vote(1, 2), vote(2, 2)]
    d.step()  # three heads at round 2 hold only 3/10: staying is right


def test_faulty_validators_are_not_judged() -> None:
    d = Driver()
    d.node.correct = False
    d.step(timer(3, Step.PREVOTE, 1))
    d.step(to_round=9)


def test_a_height_begun_in_a_step_starts_at_round_zero_unless_the_power_moved_on() -> None:
    d = Driver()
    core = d.node.replica.core
    core.height = H + 1
    d.step(to_round=0)  # decided H and began H + 1 in one step
    core.height = H + 2
    with pytest.raises(RuleViolation, match="skipped from round 0 to 2 at height 7"):
        d.step(to_round=2)
    d = Driver()
    d.node.replica.core.height = H + 2
    d.rules.heard(d.node, Vote(VoteType.PREVOTE, H + 2, 2, None, KEYS[3], b"s" * 64))
    d.step(to_round=2)
