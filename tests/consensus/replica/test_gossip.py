"""Gossip heals lost messages: what one correct validator received, all eventually receive."""

from __future__ import annotations

import attrs
import pytest

from consensus.messages import Step, VoteType
from consensus.proposer import proposer
from consensus.replica import events as ev
from consensus.replica.wire import (
    GetRound,
    ProposalMsg,
    StatusMsg,
    TxsMsg,
    VoteMsg,
    decode_wire,
    encode_wire,
)
from consensus.signing import sign_vote
from tests.consensus.replica.driver import CHAIN, FAST, Net, Node, TxMaker


@pytest.mark.parametrize("announce", [True, False], ids=["reconnect", "silent-loss"])
def test_two_two_split_heals_and_commits(announce: bool) -> None:
    """A 2|2 split stalls the height; after healing, progress resumes. With `announce` the
    links go down and up (reconnect re-sends our messages); without it the messages are just
    lost, and only the periodic status exchange and pushes can repair the gap."""
    net = Net(4)
    net.start()
    net.run_until(lambda: net.min_height() >= 2, 5_000)
    left, right = net.nodes[:2], net.nodes[2:]
    for a in left:
        for b in right:
            net.cut.add(frozenset((a.index, b.index)))
            if announce:
                net.call(a, ev.PeerDisconnected(b.key))
                net.call(b, ev.PeerDisconnected(a.key))
    stalled = max(n.store.last_height() for n in net.nodes)
    net.run_for(3_000)
    assert max(n.store.last_height() for n in net.nodes) <= stalled + 1  # no quorum anywhere
    net.cut.clear()
    if announce:
        for a in left:
            for b in right:
                net.call(a, ev.PeerConnected(b.key))
                net.call(b, ev.PeerConnected(a.key))
    net.run_until(lambda: net.min_height() >= stalled + 3, 10_000)
    net.assert_agreement()


def test_precommit_quorum_without_the_proposal_fetches_it() -> None:
    """A replica holding 2f+1 precommits for a block it never saw asks the precommitters."""
    net = Net(4)
    victim = next(n for n in net.nodes if n.key != proposer(net.validators, 1, 0))
    blackout_ms = 150

    def drop_proposals(src: Node, dst: Node, payload: bytes) -> bytes:
        msg = decode_wire(payload)
        if dst is victim and net.now < blackout_ms and isinstance(msg, ProposalMsg):
            return encode_wire(GetRound(10**6, 0))  # harmless stand-in: the proposal is lost
        return payload

    net.tamper = drop_proposals
    net.start()
    net.run_until(lambda: victim.store.last_height() >= 1, 5_000)
    asked = [
        decode_wire(e.payload)
        for e in victim.effects_log
        if isinstance(e, ev.SendTo) and isinstance(decode_wire(e.payload), GetRound)
    ]
    assert GetRound(1, 0) in asked
    net.run_until(lambda: net.min_height() >= 3, 5_000)
    net.assert_agreement()


@pytest.mark.parametrize("pull", [False, True], ids=["push", "pull"])
def test_a_validator_ahead_in_round_resends_its_earlier_precommit(pull: bool) -> None:
    """malachite#850 as the simulator found it. One validator is silent; A never sees the
    round-0 proposal, so the round ends in nil precommits; A's is lost on its way to B and C.
    A holds three precommits, times out and moves to round 1 alone (too little power for a
    round skip); B and C hold two and never start timeoutPrecommit. Only gossip ends this:
    A re-sends its round-0 precommit when it reads their status (push); with `pull` A never
    gets their status, and B and C must ask A for their round (A is in a later one)."""
    net = Net(4)
    silent = net.nodes[3]
    a = next(n for n in net.nodes[:3] if n.key != proposer(net.validators, 1, 0))
    for other in net.nodes[:3]:
        net.cut.add(frozenset((silent.index, other.index)))
    lost: set[int] = set()  # the receivers of lost copies

    def starve_a(src: Node, dst: Node, payload: bytes) -> bytes:
        msg = decode_wire(payload)
        stand_in = encode_wire(GetRound(10**6, 0))  # harmless: the real message is lost
        if dst is a and isinstance(msg, ProposalMsg) and msg.proposal.round == 0:
            return stand_in
        if pull and dst is a and isinstance(msg, StatusMsg) and a.replica.round > 0:
            return stand_in
        if (
            src is a
            and isinstance(msg, VoteMsg)
            and msg.vote.type is VoteType.PRECOMMIT
            and (msg.vote.height, msg.vote.round) == (1, 0)
            and (a.replica.height, a.replica.round) == (1, 0)
        ):
            lost.add(dst.index)
            return stand_in  # every copy sent before A moves on
        return payload

    net.tamper = starve_a
    net.start()
    live = [n for n in net.nodes if n is not silent]
    net.run_until(lambda: min(n.store.last_height() for n in live) >= 2, 10_000)
    assert len(lost) == 2
    resent = [
        e
        for e in a.effects_log
        if isinstance(e, ev.SendTo)
        and isinstance(m := decode_wire(e.payload), VoteMsg)
        and (m.vote.validator, m.vote.height, m.vote.round, m.vote.type)
        == (a.key, 1, 0, VoteType.PRECOMMIT)
    ]
    assert resent, "the round-0 precommit was never re-sent"
    if pull:
        asked = [
            decode_wire(e.payload)
            for n in live
            for e in n.effects_log
            if isinstance(e, ev.SendTo) and e.peer == a.key
        ]
        assert GetRound(1, 0) in asked
    assert len({n.store.load_block(1) for n in live}) == 1


def test_pending_transactions_reach_a_peer_that_was_away_when_they_were_gossiped() -> None:
    """A transaction admitted while C was disconnected is broadcast only to the peers connected
    then; when C reconnects, a peer holding it sends it along (in bounded batches), so C's
    mempool gets it before any block could carry it there."""
    net = Net(4)
    net.start()
    net.run_until(lambda: net.min_height() >= 1, 5_000)
    away, other = net.nodes[3], net.nodes[2]
    net.disconnect(away)
    net.disconnect(other)  # two of four away: no quorum, nothing commits meanwhile
    txs = TxMaker(net)
    batch = [txs.mint(i % 4, 1_00 + i) for i in range(5)]
    for tx in batch:
        assert net.submit(net.nodes[0], tx).admission.accepted
    net.run_for(50)
    assert len(net.nodes[1].mempool) == 5 and len(away.mempool) == 0
    top = max(n.store.last_height() for n in net.nodes)
    net.reconnect(away)
    relayed = [
        decode_wire(e.payload)
        for e in net.nodes[0].effects_log
        if isinstance(e, ev.SendTo) and e.peer == away.key
    ]
    assert TxsMsg(tuple(batch)) in relayed
    net.run_until(lambda: len(away.mempool) == 5 or away.store.last_height() > top, 1_000)
    assert len(away.mempool) == 5  # relayed, not learnt from a block
    net.reconnect(other)
    net.run_until(lambda: all(n.app.height > top and len(n.mempool) == 0 for n in net.nodes), 5_000)
    net.assert_agreement()


def test_the_relay_to_a_reconnecting_peer_is_bounded_and_batched() -> None:
    config = attrs.evolve(FAST, tx_batch_max=2, relay_max_txs=5)
    net = Net(4, config=config)
    net.start()
    txs = TxMaker(net)
    sender, peer = net.nodes[0], net.nodes[1]
    pending = [txs.mint(0, 1_00 + i) for i in range(7)]
    for tx in pending:
        assert sender.mempool.add(tx, 1).accepted
    sender.replica.handle(ev.PeerDisconnected(peer.key), net.now)
    effects = sender.replica.handle(ev.PeerConnected(peer.key), net.now)
    sent = [decode_wire(e.payload) for e in effects if isinstance(e, ev.SendTo)]
    batches = [m.txs for m in sent if isinstance(m, TxsMsg)]
    assert batches == [tuple(pending[0:2]), tuple(pending[2:4]), (pending[4],)]


def test_a_polka_hidden_by_an_equivocator_is_pulled_for_a_valid_round_proposal() -> None:
    """Seed 12 of the simulator, in small. Validator E equivocates in round 0 of height 1: A
    gets a nil prevote signed by E, everyone else its prevote for the block B (A also misses
    round 0's proposal and prevotes nil), so the others see a polka for B and A does not. E's
    precommit for B is lost, and round 1's proposer P's reaches only A, so round 0 does not
    decide, and P re-proposes B with vr = 0. A lacks that polka, so it asks P for round 0; P
    sends every prevote it holds, E's for B included: evidence, and (consensus/votes.py) a vote
    for B. The polka appears and A prevotes B by line 28 instead of nil. (Round 1's precommits
    are kept from A until it has prevoted, so that it does not decide first.)"""
    net = Net(4)
    p0, p1 = proposer(net.validators, 1, 0), proposer(net.validators, 1, 1)
    a = next(n for n in net.nodes if n.key not in (p0, p1))
    e = next(n for n in net.nodes if n is not a and n.key != p1)
    asked_p_in_round: list[int] = []

    def equivocate(src: Node, dst: Node, payload: bytes) -> bytes:
        msg = decode_wire(payload)
        lost = encode_wire(GetRound(10**6, 0))  # harmless stand-in: the real message is lost
        if isinstance(msg, GetRound) and src is a and dst.key == p1 and msg == GetRound(1, 0):
            asked_p_in_round.append(a.replica.round)
        if isinstance(msg, ProposalMsg) and dst is a and msg.proposal.round == 0:
            return lost
        if not isinstance(msg, VoteMsg) or msg.vote.height != 1 or msg.vote.block_id is None:
            return payload
        vote = msg.vote
        if (vote.round, vote.type) == (1, VoteType.PRECOMMIT):
            prevoted = (a.key, 1, 1, int(Step.PREVOTE)) in net.signed
            return payload if dst is not a or prevoted else lost
        if vote.round != 0:
            return payload
        if vote.type is VoteType.PRECOMMIT and (
            vote.validator == e.key or (vote.validator == p1 and dst is not a)
        ):
            return lost
        if vote.type is VoteType.PREVOTE and vote.validator == e.key and dst is a:
            if src is e:  # E itself tells A "nil"
                nil = sign_vote(e.signer, CHAIN, attrs.evolve(vote, block_id=None))
                return encode_wire(VoteMsg(nil))
            if a.replica.round == 0:  # keep its vote for B from A until round 1
                return lost
        return payload

    net.tamper = equivocate
    net.start()
    net.run_until(lambda: net.min_height() >= 1, 10_000)
    mine = [
        m.vote
        for x in a.effects_log
        if isinstance(x, ev.BroadcastPayload)
        and isinstance(m := decode_wire(x.payload), VoteMsg)
        and m.vote.validator == a.key
        and m.vote.type is VoteType.PREVOTE
    ]
    committed = a.commits[0]
    assert [(v.round, v.block_id) for v in mine[:2]] == [(0, None), (1, committed.block_id)]
    assert 1 in asked_p_in_round  # the pull for round vr, from the proposer
    found = [x.evidence for x in a.effects_log if isinstance(x, ev.EvidenceFound)]
    assert any(f.vote_a.validator == e.key for f in found)
    net.assert_agreement()
