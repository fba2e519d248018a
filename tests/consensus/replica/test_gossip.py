"""Gossip heals lost messages: what one correct validator received, all eventually receive."""

from __future__ import annotations

import pytest

from consensus.replica import events as ev
from tests.consensus.replica.driver import Net


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
