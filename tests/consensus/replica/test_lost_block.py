"""A restarted proposer whose valid value's block died with it: valid(v) once the block is back.

Sim seed 1006 (`depositnet sim run --seed 1006 --set byzantine=0:lie_vr --set twins=none`): two
validators locked on B in round 0 restarted, lost B's block with their memory, and re-proposed B
(their valid value) in later rounds. The core asks valid(v) once per block; the replica could not
answer without the block, and when the block came back in another proposal it answered nothing,
so neither ever prevoted B again, nor anything else (they were locked on it): no height decided
for the rest of the run.
"""

from __future__ import annotations

from consensus import codec
from consensus.messages import SignedRecord, SignState, Step, Vote, VoteType
from consensus.proposer import proposer
from consensus.replica import events as ev
from consensus.replica.wire import ProposalMsg, VoteMsg, decode_wire
from consensus.signing import sign_vote, vote_sign_bytes
from tests.consensus.replica.driver import CHAIN, Net, Node

NOW_MS = 1_000


def _node(net: Net, height: int, round: int) -> Node:
    key = proposer(net.validators, height, round)
    return next(n for n in net.nodes if n.key == key)


def test_a_restarted_proposer_takes_its_valid_value_once_the_block_is_back() -> None:
    net = Net(4)
    first, second = _node(net, 1, 0), _node(net, 1, 1)
    assert first is not second
    # The proposer of round 0 proposes B (its block travels with the proposal).
    out = first.replica.start(NOW_MS)
    proposal_payload = next(
        e.payload
        for e in out
        if isinstance(e, ev.BroadcastPayload) and isinstance(decode_wire(e.payload), ProposalMsg)
    )
    msg = decode_wire(proposal_payload)
    assert isinstance(msg, ProposalMsg)
    b = msg.proposal.block_id

    # `second` prevoted and precommitted B in round 0 on a polka of three, locked on it, and
    # restarted in round 1 (its turn) with nothing but its sign state: no block, no log.
    voters = [second, *[n for n in net.nodes if n is not second][:2]]
    polka = tuple(
        sign_vote(n.signer, CHAIN, Vote(VoteType.PREVOTE, 1, 0, b, n.key)) for n in voters
    )
    own_prevote = polka[0]
    precommit = sign_vote(second.signer, CHAIN, Vote(VoteType.PRECOMMIT, 1, 0, b, second.key))
    last = SignedRecord(
        1, 0, Step.PRECOMMIT, vote_sign_bytes(CHAIN, precommit), precommit.signature
    )
    state = SignState(1, 1, Step.PROPOSE, 0, b, 0, b, last, polka, (own_prevote,))
    second.store.save_sign_state(codec.encode_sign_state(state))
    second.replica = second._open()
    out = second.replica.start(NOW_MS)
    assert [r for _, r, _ in _prevotes(out)] == [0]  # round 0's, re-sent; none for round 1:
    # it re-proposes B with vr = 0 (the proposal waits for the block), but cannot judge B

    # B's block comes back, in the round-0 proposal a peer sends it.
    out = second.replica.handle(ev.MessageReceived(first.key, proposal_payload), NOW_MS)
    second.replica.check_invariants()
    assert (1, 1, b) in _prevotes(out)  # line 28: its own re-proposal, on the restored polka
    resent = [m for e in out if isinstance(m := _proposal(e), ProposalMsg)]
    assert [(m.proposal.round, m.proposal.valid_round) for m in resent] == [(1, 0)]


def _proposal(effect: ev.ReplicaEffect) -> object:
    if isinstance(effect, ev.BroadcastPayload | ev.SendTo):
        return decode_wire(effect.payload)
    return None


def _prevotes(effects: list[ev.ReplicaEffect]) -> list[tuple[int, int, bytes | None]]:
    out = []
    for effect in effects:
        msg = _proposal(effect)
        if isinstance(msg, VoteMsg) and msg.vote.type is VoteType.PREVOTE:
            out.append((msg.vote.height, msg.vote.round, msg.vote.block_id))
    return out
