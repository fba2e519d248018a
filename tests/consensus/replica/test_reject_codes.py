"""Rejection codes: the core names why it refused an input with a stable `RejectCode`, and the
replica decides from the code alone (never the wording) whether the sending peer misbehaved."""

from __future__ import annotations

import attrs

from consensus import events as ev
from consensus.events import RejectCode
from consensus.messages import Proposal, Step, VoteType
from consensus.replica import events as rev
from consensus.replica.progress import BENIGN_REJECTIONS
from tests.consensus.helpers import Validators, block, precommit, prevote
from tests.consensus.replica.driver import Net

VALS = Validators(4)
B, C = block("b"), block("c")


def test_every_core_rejection_carries_its_code() -> None:
    core = VALS.core(3)
    (early,) = core.handle(ev.TimeoutElapsed(1, 0, Step.PROPOSE), 0)
    assert isinstance(early, ev.InputRejected) and early.code is RejectCode.MISUSE
    core.start_height(1, 0)
    core.handle(ev.ProposalReceived(VALS.proposal(1, 0, B)), 0)
    outsider = Validators(1, salt=5)
    good_vote = VALS.vote(1, VoteType.PREVOTE, 1, 0, B)
    wrong_proposer = attrs.evolve(VALS.proposal(1, 1, B), proposer=VALS.signers[3].public_key)
    for r in (5, 6):
        core.handle(prevote(VALS, 0, 1, r, None), 0)
    cases: dict[RejectCode, object] = {
        RejectCode.OTHER_HEIGHT: prevote(VALS, 1, 2, 0, B),
        RejectCode.NOT_A_VALIDATOR: ev.VoteReceived(outsider.vote(0, VoteType.PREVOTE, 1, 0, B)),
        RejectCode.BAD_SIGNATURE: ev.VoteReceived(attrs.evolve(good_vote, signature=b"\0" * 64)),
        RejectCode.WRONG_PROPOSER: ev.ProposalReceived(wrong_proposer),
        RejectCode.CONFLICTING_PROPOSAL: ev.ProposalReceived(VALS.proposal(1, 0, C)),
        RejectCode.FUTURE_ROUND: precommit(VALS, 0, 1, 7, None),
        RejectCode.MALFORMED: ev.ProposalReceived(Proposal(1, 1, 1, B, b"\1" * 32, b"")),
    }
    for code, event in cases.items():
        out = core.handle(event, 0)  # type: ignore[arg-type]
        assert [(type(e), getattr(e, "code", None)) for e in out] == [(ev.InputRejected, code)]
    (late,) = core.handle(prevote(VALS, 1, 1, 0, B), -1)
    assert isinstance(late, ev.InputRejected) and late.code is RejectCode.MISUSE
    assert {RejectCode(c.value) for c in RejectCode} == set(RejectCode)  # stable str values
    assert RejectCode.OTHER_HEIGHT == "other_height"


def test_the_replica_blames_peers_by_code_only() -> None:
    net = Net(4)
    replica, peer = net.nodes[0].replica, net.nodes[1].key
    for code in RejectCode:
        for reason in ("vote for height 3 at 2", "too many future rounds", "bad vote signature"):
            rejected = ev.InputRejected(reason, peer, code)
            effects = replica._drive([rejected], 0, peer)
            blamed = [e for e in effects if isinstance(e, rev.PeerMisbehaved)]
            assert (blamed == [rev.PeerMisbehaved(peer, reason)]) is (
                code not in BENIGN_REJECTIONS
            ), (code, reason)
            assert replica._drive([rejected], 0, None) == []  # our own input: nobody to blame
    assert {RejectCode.OTHER_HEIGHT, RejectCode.FUTURE_ROUND} == BENIGN_REJECTIONS
