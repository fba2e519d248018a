"""Gossip heals lost messages: what one correct validator received, all eventually receive."""

from __future__ import annotations

import pytest

from consensus.proposer import proposer
from consensus.replica import events as ev
from consensus.replica.wire import GetRound, ProposalMsg, decode_wire, encode_wire
from tests.consensus.replica.driver import Net, Node


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
