"""Every (step, input kind) pair: handled or ignored, never an exception, invariants hold.

The first test walks the dispatch table with representative inputs of each kind (well formed,
stale, malformed) in each step. The second lets hypothesis throw arbitrary sequences of such
inputs at one core, including garbage and other validators' conflicting votes.
"""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import events as ev
from consensus.core import ConsensusCore
from consensus.dispatch import DISPATCH, INPUT_KINDS
from consensus.messages import Step, Vote, VoteType
from tests.consensus.helpers import VALIDATORS_4 as VALS
from tests.consensus.helpers import assert_persist_before_send, block

B, C = block("B"), block("C")


def core_in(step: Step) -> ConsensusCore:
    core = VALS.core(3)
    core.start_height(1, 0)
    if step >= Step.PREVOTE:
        core.handle(ev.TimeoutElapsed(1, 0, Step.PROPOSE), 0)
    if step >= Step.PRECOMMIT:
        core.handle(ev.TimeoutElapsed(1, 0, Step.PREVOTE), 0)
    assert core.step is step
    return core


def inputs(kind: str) -> list[object]:
    """Representative inputs of one kind: current, stale, future, malformed."""
    vote = VALS.vote(0, VoteType.PREVOTE, 1, 0, B)
    if kind == "proposal":
        good = VALS.proposal(1, 0, B)
        return [  # type: ignore[return-value]
            ev.ProposalReceived(p)
            for p in (
                good,
                VALS.proposal(1, 1, C, 0),
                VALS.proposal(2, 0, B),
                attrs.evolve(good, signature=b"x"),
            )
        ] + [ev.ProposalReceived(None)]  # type: ignore[arg-type]
    if kind == "vote":
        return [
            ev.VoteReceived(v)
            for v in (
                vote,
                VALS.vote(0, VoteType.PRECOMMIT, 1, 0, C),
                VALS.vote(1, VoteType.PRECOMMIT, 1, 4, None),
                attrs.evolve(vote, block_id=C),
                Vote(VoteType.PREVOTE, -1, 0, None, b"", b""),
            )
        ]
    if kind.startswith("timeout_"):
        step = Step[kind.removeprefix("timeout_").upper()]
        return [ev.TimeoutElapsed(h, r, step) for h in (0, 1, 2) for r in (0, 1)]
    if kind == "value":
        return [ev.ProposalValueSupplied(1, 0, B), ev.ProposalValueSupplied(1, 0, b"short")]
    assert kind == "verdict"
    return [
        ev.ValidityVerdict(1, B, True),
        ev.ValidityVerdict(1, B, False),
        ev.ValidityVerdict(2, C, True),
        ev.ValidityVerdict(1, b"x", True),
    ]


def test_dispatch_table_covers_every_pair() -> None:
    assert set(DISPATCH) == {(s, k) for s in Step for k in INPUT_KINDS}
    assert all(callable(getattr(ConsensusCore, name)) for name in DISPATCH.values())


@pytest.mark.parametrize("step", list(Step))
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_every_step_input_pair(step: Step, kind: str) -> None:
    for event in inputs(kind):
        core = core_in(step)
        out = core.handle(event, 10)  # type: ignore[arg-type]
        core.check_invariants()
        assert_persist_before_send(out)
        assert all(isinstance(e, ev.Effect) for e in out)


def _events() -> st.SearchStrategy[object]:
    h = st.sampled_from([1, 1, 1, 2])
    r = st.integers(0, 3)
    who = st.integers(0, 3)
    value = st.sampled_from([B, C, None])
    vote = st.builds(
        lambda i, t, h, r, v: ev.VoteReceived(VALS.vote(i, t, h, r, v)),
        who,
        st.sampled_from(VoteType),
        h,
        r,
        value,
    )
    proposal = st.builds(
        lambda h, r, v, vr: ev.ProposalReceived(VALS.proposal(h, r, v, min(vr, r - 1))),
        h,
        r,
        st.sampled_from([B, C]),
        st.integers(-1, 2),
    )
    timeout = st.builds(ev.TimeoutElapsed, h, r, st.sampled_from(Step))
    verdict = st.builds(ev.ValidityVerdict, h, st.sampled_from([B, C]), st.booleans())
    supplied = st.builds(ev.ProposalValueSupplied, h, r, st.sampled_from([B, C]))
    garbage = st.sampled_from([None, 3, ev.ProposalReceived(None)])  # type: ignore[arg-type]
    return st.one_of(vote, proposal, timeout, verdict, supplied, garbage)


@settings(max_examples=60)
@given(me=st.integers(0, 3), events=st.lists(_events(), max_size=40))
def test_arbitrary_input_sequences_never_raise(me: int, events: list[object]) -> None:
    core = VALS.core(me)
    core.start_height(1, 0)
    signed: dict[tuple[int, int, object], bytes] = {}
    for now_ms, event in enumerate(events):
        out = core.handle(event, now_ms)  # type: ignore[arg-type]
        core.check_invariants()
        assert_persist_before_send(out)
        for e in out:
            if isinstance(e, ev.Broadcast):
                m = e.message
                slot = (m.height, m.round, getattr(m, "type", "proposal"))
                assert signed.setdefault(slot, m.signature) == m.signature, "double sign"
