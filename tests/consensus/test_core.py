"""ConsensusCore as a whole: restarts and the sign guard, API misuse, rejections, queries."""

from __future__ import annotations

import attrs
import pytest

from consensus import events as ev
from consensus.codec import decode_sign_state, encode_sign_state
from consensus.core import ConsensusCore
from consensus.messages import Proposal, SignState, Step, ValidatorSet, Vote, VoteType
from tests.consensus.helpers import (
    CHAIN,
    Net,
    Validators,
    block,
    broadcasts,
    my_votes,
    precommit,
    prevote,
)

VALS = Validators(4)
B, C = block("B"), block("C")


def snapshot(core: ConsensusCore) -> object:
    rounds = core.rounds()
    return (
        core.sign_state,
        rounds,
        [core.proposal(r) for r in rounds],
        [core.votes(r, t) for r in rounds for t in VoteType],
        core.evidence(),
        core.decided,
        core.own_messages(),
    )


def last_persisted(effects: list[ev.Effect]) -> SignState:
    states = [e.state for e in effects if isinstance(e, ev.PersistSignState)]
    return states[-1]


def test_restart_reemits_the_same_vote_and_refuses_a_different_one() -> None:
    core = VALS.core(3)
    core.start_height(1, 0)
    out = core.handle(ev.ProposalReceived(VALS.proposal(1, 0, B)), 0)
    out += core.handle(ev.ValidityVerdict(1, B, True), 0)
    (vote,) = broadcasts(out)
    saved = encode_sign_state(last_persisted(out))  # what the driver wrote to disk

    again = VALS.core(3, sign_state=decode_sign_state(saved))
    out = again.start_height(1, 0)
    assert broadcasts(out) == [vote]  # re-sent at once: the stored signature, identical bytes
    assert again.step is Step.PREVOTE and vote in again.votes(0, VoteType.PREVOTE)
    out = again.handle(ev.ProposalReceived(VALS.proposal(1, 0, B)), 0)
    out += again.handle(ev.ValidityVerdict(1, B, True), 0)
    assert broadcasts(out) == []  # already sent: no second copy
    again.check_invariants()

    third = VALS.core(3, sign_state=decode_sign_state(saved))
    third.start_height(1, 0)
    out = third.handle(ev.TimeoutElapsed(1, 0, Step.PROPOSE), 0)  # would prevote nil instead
    assert broadcasts(out) == [] and third.step is Step.PREVOTE  # stale: no 2nd vote


def test_restarted_proposer_resends_its_proposal_instead_of_asking_again() -> None:
    core = VALS.core(0)
    core.start_height(1, 0)
    out = core.handle(ev.ProposalValueSupplied(1, 0, B), 0)
    proposal = broadcasts(out)[0]
    proposal_state = next(e.state for e in out if isinstance(e, ev.PersistSignState))
    again = VALS.core(0, sign_state=proposal_state)
    out = again.start_height(1, 0)
    assert broadcasts(out) == [proposal]
    assert not [e for e in out if isinstance(e, ev.RequestProposalValue)]


def test_restart_keeps_the_lock_and_round() -> None:
    core = VALS.core(3)
    core.start_height(1, 0)
    out = core.handle(ev.ProposalReceived(VALS.proposal(1, 0, B)), 0)
    out += core.handle(ev.ValidityVerdict(1, B, True), 0)
    for i in (0, 1):
        out += core.handle(prevote(VALS, i, 1, 0, B), 0)
    out += core.handle(ev.TimeoutElapsed(1, 0, Step.PRECOMMIT), 0)
    state = core.sign_state
    assert (state.locked_value, state.round) == (B, 1)
    again = VALS.core(3, sign_state=last_persisted(out))
    again.start_height(1, 0)
    assert again.round == 0 and again.sign_state.locked_value == B  # persisted at round 0
    again = VALS.core(3, sign_state=state)
    out = again.start_height(1, 0)
    assert again.round == 1 and again.step is Step.PROPOSE
    # Round 0's prevote and precommit (every vote of the height, oldest first), re-sent and
    # counted; the state keeps round 1.
    earlier, resent = broadcasts(out)
    assert isinstance(earlier, Vote) and earlier.type is VoteType.PREVOTE
    assert earlier in again.votes(0, VoteType.PREVOTE)
    assert (resent.round, resent.block_id) == (0, B) and resent in again.votes(
        0, VoteType.PRECOMMIT
    )
    assert last_persisted(out).round == 1
    out = again.handle(ev.ProposalReceived(VALS.proposal(1, 1, C)), 0)
    out += again.handle(ev.ValidityVerdict(1, C, True), 0)
    assert my_votes(out, VoteType.PREVOTE) == [None]


def test_api_misuse_raises_value_error() -> None:
    with pytest.raises(ValueError):
        VALS.core(0, bugs=frozenset({"no_such_bug"}))
    with pytest.raises(ValueError):
        ConsensusCore(chain_id="", validators=VALS.set, signer=None)
    with pytest.raises(ValueError):
        ConsensusCore(chain_id=CHAIN, validators=ValidatorSet(()), signer=None)
    core = VALS.core(0)
    core.start_height(2, 0)
    for height in (1, 2, 0):
        with pytest.raises(ValueError):
            core.start_height(height, 0)
    ahead = SignState(height=5, round=0, step=Step.PROPOSE)
    with pytest.raises(ValueError):
        VALS.core(0, sign_state=ahead).start_height(4, 0)
    (early,) = VALS.core(0).handle(ev.TimeoutElapsed(1, 0, Step.PROPOSE), 0)
    assert isinstance(early, ev.InputRejected) and early.reason.startswith("start_height")


def test_rejected_input_leaves_state_unchanged() -> None:
    core = VALS.core(3)
    core.start_height(1, 0)
    core.handle(ev.ProposalReceived(VALS.proposal(1, 0, B)), 0)
    core.handle(prevote(VALS, 0, 1, 0, B), 0)
    outsider = Validators(1, salt=5)
    good_vote = VALS.vote(1, VoteType.PREVOTE, 1, 0, B)
    wrong_proposer = attrs.evolve(VALS.proposal(1, 1, B), proposer=VALS.signers[3].public_key)
    bad = {
        "wrong height": prevote(VALS, 1, 2, 0, B),
        "non-member": ev.VoteReceived(outsider.vote(0, VoteType.PREVOTE, 1, 0, B)),
        "bad signature": ev.VoteReceived(attrs.evolve(good_vote, signature=b"\0" * 64)),
        "not the proposer": ev.ProposalReceived(wrong_proposer),
        "conflicting proposal": ev.ProposalReceived(VALS.proposal(1, 0, C)),
        "bad type": ev.VoteReceived(Vote(9, 1, 0, None, b"\1" * 32, b"")),  # type: ignore[arg-type]
        "vr >= round": ev.ProposalReceived(Proposal(1, 1, 1, B, b"\1" * 32, b"")),
        "short block id": ev.VoteReceived(attrs.evolve(good_vote, block_id=b"x")),
        "bool height": ev.TimeoutElapsed(True, 0, Step.PROPOSE),
        "verdict not bool": ev.ValidityVerdict(1, B, 1),  # type: ignore[arg-type]
        "not an event": "hello",
    }
    for name, event in bad.items():
        before = snapshot(core)
        out = core.handle(event, 0)  # type: ignore[arg-type]
        assert [type(e) for e in out] == [ev.InputRejected], name
        assert snapshot(core) == before, name
        core.check_invariants()


def test_future_rounds_per_sender_are_bounded() -> None:
    core = VALS.core(3)
    core.start_height(1, 0)
    for r in (5, 6):
        assert core.handle(prevote(VALS, 0, 1, r, None), 0) == []
    out = core.handle(prevote(VALS, 0, 1, 7, None), 0)
    assert [type(e) for e in out] == [ev.InputRejected]
    assert core.handle(precommit(VALS, 0, 1, 6, None), 0) == []  # a round it already holds


def test_observer_decides_without_signing() -> None:
    net = Net(VALS, [0, 1, 2, 3])
    observer = VALS.core(None)
    observer.start_height(1, 0)
    net.run_height(1)
    for i in range(4):
        for m in net.cores[i].own_messages():
            event = ev.ProposalReceived(m) if isinstance(m, Proposal) else ev.VoteReceived(m)
            out = observer.handle(event, 0)
            assert not broadcasts(out)
            for e in out:
                if isinstance(e, ev.RequestValidity):
                    observer.handle(ev.ValidityVerdict(1, e.block_id, True), 0)
    assert observer.decided == net.decisions[0][1]
    commit = observer.commit_for(net.decisions[0][1])
    assert commit is not None and len(commit.precommits) >= 3
    assert observer.own_messages() == ()


def test_queries_expose_the_height_for_gossip() -> None:
    net = Net(VALS, [0, 1, 2, 3])
    net.run_height(1)
    core = net.cores[2]
    decided = net.decisions[2][1]
    assert core.decided == decided and core.rounds() == (0,)
    assert core.proposal(0) is not None and core.proposal(0).block_id == decided  # type: ignore[union-attr]
    assert len(core.votes(0, VoteType.PREVOTE)) >= 3
    assert [type(m) for m in core.own_messages()] == [Vote, Vote]
    assert core.commit_for(block("nothing")) is None
    assert core.handle(prevote(VALS, 0, 1, 0, decided), 5) == []  # after deciding: duplicates


def test_evidence_is_bounded_to_one_per_validator_round_and_type() -> None:
    core = VALS.core(3)
    core.start_height(1, 0)
    core.handle(prevote(VALS, 0, 1, 0, B), 0)
    reports = []
    for value in (C, None, block("D"), C):
        out = core.handle(prevote(VALS, 0, 1, 0, value), 0)
        reports += [e for e in out if isinstance(e, ev.ReportEvidence)]
    assert len(reports) == 1 and len(core.evidence()) == 1
    out = core.handle(precommit(VALS, 0, 1, 0, C), 0)
    out += core.handle(precommit(VALS, 0, 1, 0, B), 0)
    assert len([e for e in out if isinstance(e, ev.ReportEvidence)]) == 1  # another slot
    core.check_invariants()
