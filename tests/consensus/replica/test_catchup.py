"""Catch-up: a replica that fell behind fetches committed blocks and verifies every commit."""

from __future__ import annotations

import attrs

from consensus import codec
from consensus.replica import events as ev
from consensus.replica.wire import CommittedBlock, GetBlocks, decode_wire, encode_wire
from tests.consensus.replica.driver import Net, TxMaker


def test_replica_disconnected_for_50_heights_catches_up() -> None:
    net = Net(4)
    net.start()
    txs = TxMaker(net)
    lagger = net.nodes[3]
    net.run_until(lambda: net.min_height() >= 2, 5_000)
    net.disconnect(lagger)
    behind = lagger.store.last_height()
    for i in range(6):
        net.submit(net.nodes[i % 3], txs.mint(i % 4, 10_00))
    net.run_until(lambda: min(n.store.last_height() for n in net.nodes[:3]) >= behind + 50, 60_000)
    assert lagger.store.last_height() == behind
    net.reconnect(lagger)
    target = min(n.store.last_height() for n in net.nodes[:3])
    net.run_until(lambda: lagger.store.last_height() >= target, 20_000)
    net.assert_agreement()
    fetched = [
        e for e in lagger.effects_log if isinstance(e, ev.SendTo) and _kind(e.payload) == GetBlocks
    ]
    assert fetched, "the lagging replica caught up through GetBlocks"
    assert not net.misbehaviour
    # ...and it is back in consensus: it signs votes at new heights again.
    net.run_until(lambda: lagger.replica.core.own_messages() != (), 5_000)


def _kind(payload: bytes) -> type:
    return type(decode_wire(payload))


def test_committed_block_with_a_forged_commit_is_refused() -> None:
    net = Net(4)
    net.start()
    net.run_until(lambda: net.min_height() >= 3, 5_000)
    source = net.nodes[0].store
    fresh = Net(4)  # same validators and genesis, nothing committed yet
    fresh.start()
    node = fresh.nodes[0]
    peer = fresh.nodes[1].key
    block, commit = source.load_block(1), source.load_commit(1)
    assert block is not None and commit is not None
    decoded = codec.decode_commit(commit)
    vote = decoded.precommits[0]
    bad_sig = attrs.evolve(vote, signature=bytes(64))
    forged = attrs.evolve(decoded, precommits=(bad_sig, *decoded.precommits[1:]))
    too_few = attrs.evolve(decoded, precommits=decoded.precommits[:1])
    for bad in (forged, too_few):
        payload = encode_wire(CommittedBlock(block, codec.encode_commit(bad)))
        effects = node.replica.handle(ev.MessageReceived(peer, payload), fresh.now)
        assert [type(e) for e in effects] == [ev.PeerMisbehaved]
        assert node.replica.last_committed_height == 0
    good = encode_wire(CommittedBlock(block, commit))
    effects = node.replica.handle(ev.MessageReceived(peer, good), fresh.now)
    commits = [e for e in effects if isinstance(e, ev.CommitBlock)]
    assert len(commits) == 1 and commits[0].record.block == block
    assert node.replica.last_committed_height == 1
