"""Crash at every effect boundary, restart from the store: no double signature, no lost block."""

from __future__ import annotations

import os

import pytest

from consensus.replica import events as ev
from consensus.replica.replica import Replica, ReplicaStartError
from ledger.store_memory import MemoryStore
from tests.consensus.replica.driver import Net, TxMaker

SOAK = os.environ.get("DEPOSITNET_SOAK") == "1"


def crash_run(victim: int, crash_after: int, heights: int = 3) -> Net:
    """Run 4 replicas; `victim` crashes after `crash_after` executed effects, then restarts."""
    net = Net(4)
    net.start()
    txs = TxMaker(net)
    node = net.nodes[victim]
    node.crash_after = node.effects_executed + crash_after
    for i in range(4):
        net.submit(net.nodes[i], txs.mint(i, 5_00))
    committed_before: list[bytes] = []

    def crashed() -> bool:
        return not node.alive or net.min_height() >= heights

    net.run_until(crashed, 10_000)
    if not node.alive:
        committed_before = [
            node.store.load_block(h) or b"" for h in range(1, node.store.last_height() + 1)
        ]
        net.run_for(37)
        node.restart()
    net.run_until(lambda: net.min_height() >= heights, 20_000)
    # No lost block: what was committed before the crash is still there, unchanged.
    for h, raw in enumerate(committed_before, start=1):
        assert node.store.load_block(h) == raw
    net.assert_agreement()  # the driver raised DoubleSign on any conflicting signature
    return net


def effect_count() -> int:
    net = Net(4)
    net.start()
    net.run_until(lambda: net.min_height() >= 3, 10_000)
    return net.nodes[0].effects_executed


@pytest.mark.slow
def test_crash_at_every_effect_boundary() -> None:
    total = effect_count()
    points = range(total) if SOAK else range(0, total, max(1, total // 16))
    for victim in (0, 1):
        for point in points:
            crash_run(victim, point)


@pytest.mark.parametrize("victim", range(4))
@pytest.mark.parametrize(
    "boundary",
    [ev.PersistSignState, ev.BroadcastPayload, ev.CommitBlock, ev.SetTimer, ev.SendTo],
)
def test_crash_right_after_each_kind_of_effect(boundary: type, victim: int) -> None:
    """E.g. after PersistSignState: the vote's guard is durable but the vote never left."""
    net = Net(4)
    net.start()
    txs = TxMaker(net)
    net.submit(net.nodes[0], txs.mint(1, 3_00))
    node = net.nodes[victim]
    net.run_until(lambda: net.min_height() >= 1, 5_000)
    node.crash_on = lambda e: isinstance(e, boundary)
    net.run_until(lambda: not node.alive, 5_000)
    before = node.store.last_height()
    net.run_for(50)
    node.restart()
    assert node.replica.last_committed_height == before
    net.run_until(lambda: net.min_height() >= before + 3, 20_000)
    net.assert_agreement()


def test_the_driver_catches_a_double_signature() -> None:
    """The checker the crash tests rely on does fail on two votes at one (h, r, step)."""
    from consensus.messages import Vote, VoteType
    from consensus.replica.wire import VoteMsg, encode_wire
    from consensus.signing import sign_vote
    from tests.consensus.replica.driver import CHAIN, DoubleSign

    net = Net(4)
    node = net.nodes[0]
    for block_id in (bytes(32), b"\x01" * 32):
        vote = sign_vote(node.signer, CHAIN, Vote(VoteType.PREVOTE, 1, 0, block_id, node.key))
        if block_id == bytes(32):
            net.record_signed(node, encode_wire(VoteMsg(vote)))
        else:
            with pytest.raises(DoubleSign):
                net.record_signed(node, encode_wire(VoteMsg(vote)))


def test_missing_sign_state_refuses_to_start() -> None:
    net = Net(4)
    net.start()
    net.run_until(lambda: net.min_height() >= 2, 5_000)
    store = net.nodes[0].store
    assert isinstance(store, MemoryStore)
    snapshot = store.snapshot()
    broken = MemoryStore.restore_from(
        type(snapshot)(None, snapshot.heights, snapshot.state, snapshot.tx_index)
    )
    node = net.nodes[0]
    node.store = broken
    with pytest.raises(ReplicaStartError, match="no sign state"):
        node._open()
    with pytest.raises(ReplicaStartError, match="no sign state"):
        Replica.initialize_store(broken)
    corrupt = MemoryStore.restore_from(snapshot)
    corrupt.save_sign_state(b"\x93garbage")
    node.store = corrupt
    with pytest.raises(ReplicaStartError, match="corrupt"):
        node._open()


def test_sign_state_ahead_of_the_store_refuses_to_start() -> None:
    from consensus import codec
    from consensus.messages import SignState, Step

    store = MemoryStore()
    store.save_sign_state(codec.encode_sign_state(SignState(height=5, round=0, step=Step.PROPOSE)))
    net = Net(4)
    node = net.nodes[0]
    node.store = store
    with pytest.raises(ReplicaStartError, match="only 0 heights committed"):
        node._open()


def test_a_vote_persisted_but_never_sent_is_sent_after_the_restart() -> None:
    """The sign state is synced before a vote leaves; a crash in between leaves a vote the
    guard forbids contradicting but nobody has seen. The restarted replica broadcasts exactly
    that vote (the stored signature) and re-sends it to every peer that connects, and the
    chain goes on."""
    from consensus import codec
    from consensus.messages import Step
    from consensus.replica.wire import VoteMsg, encode_wire
    from consensus.signing import vote_from_sign_bytes
    from tests.consensus.replica.driver import CHAIN

    def persists_a_prevote(effect: ev.ReplicaEffect) -> bool:
        if not isinstance(effect, ev.PersistSignState):
            return False
        last = codec.decode_sign_state(effect.data).last_signed
        return last is not None and last.step is Step.PREVOTE and last.height >= 2

    net = Net(4)
    net.start()
    node = net.nodes[3]
    node.crash_on = persists_a_prevote
    net.run_until(lambda: not node.alive, 5_000)
    raw = node.store.load_sign_state()
    assert raw is not None
    last = codec.decode_sign_state(raw).last_signed
    assert last is not None
    vote = vote_from_sign_bytes(CHAIN, last.sign_bytes, last.signature)
    assert (node.key, vote.height, vote.round, int(Step.PREVOTE)) not in net.signed  # never left

    logged = len(node.effects_log)
    node.restart()
    payload = encode_wire(VoteMsg(vote))
    after = node.effects_log[logged:]
    assert ev.BroadcastPayload(payload) in after
    peers = {e.peer for e in after if isinstance(e, ev.SendTo) and e.payload == payload}
    assert peers == {n.key for n in net.nodes if n is not node}
    assert net.signed[node.key, vote.height, vote.round, int(Step.PREVOTE)] == last.sign_bytes
    net.run_until(lambda: net.min_height() >= vote.height + 2, 20_000)
    net.assert_agreement()
