"""Hostile peer bytes never crash a replica nor change its committed state (hypothesis)."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus import codec
from consensus.messages import Proposal, Step, Vote, VoteType
from consensus.replica import events as ev
from consensus.replica.wire import (
    CommittedBlock,
    GetBlocks,
    GetRound,
    ProposalMsg,
    StatusMsg,
    TxsMsg,
    VoteMsg,
    decode_wire,
    encode_wire,
)
from ledger.store_memory import MemorySnapshot, MemoryStore
from tests.consensus.replica.driver import Net, TxMaker


@cache
def recorded() -> tuple[MemorySnapshot, tuple[bytes, ...]]:
    """A store after 4 heights, and real payloads from that run that cannot commit more."""
    net = Net(4)
    net.start()
    txs = TxMaker(net)
    for i in range(4):
        net.submit(net.nodes[i], txs.mint(i, 1_00))
    net.run_until(lambda: net.min_height() >= 4, 10_000)
    store = net.nodes[0].store
    assert isinstance(store, MemoryStore)
    snapshot = store.snapshot()
    last = len(snapshot.heights)
    payloads = set()
    for node in net.nodes[1:]:
        for effect in node.effects_log:
            if isinstance(effect, ev.SendTo | ev.BroadcastPayload):
                msg = decode_wire(effect.payload)
                height = _height(msg)
                if height is None or height <= last:
                    payloads.add(effect.payload)
    return snapshot, tuple(sorted(payloads))


def _height(msg: object) -> int | None:
    if isinstance(msg, ProposalMsg):
        return msg.proposal.height
    if isinstance(msg, VoteMsg):
        return msg.vote.height
    if isinstance(msg, CommittedBlock):
        return 10**9  # could legitimately commit: keep out of the corpus
    return None


def mutate(data: bytes, position: int, value: int, cut: int) -> bytes:
    if not data:
        return bytes([value])
    position %= len(data)
    flipped = data[:position] + bytes([value]) + data[position + 1 :]
    return flipped[: max(1, len(flipped) - cut)]


VALIDATOR_KEYS = [s.public_key for s in Net(4, check_invariants=False).signers]
unsigned_votes = st.builds(
    Vote,
    st.sampled_from(list(VoteType)),
    st.integers(3, 7),
    st.integers(0, 5),
    st.one_of(st.none(), st.binary(min_size=32, max_size=32)),
    st.sampled_from(VALIDATOR_KEYS),
    st.binary(min_size=64, max_size=64),
)
forged_proposals = st.builds(
    Proposal,
    st.integers(3, 7),
    st.integers(0, 5),
    st.integers(-1, 3),
    st.binary(min_size=32, max_size=32),
    st.sampled_from(VALIDATOR_KEYS),
    st.binary(min_size=64, max_size=64),
)

structured = st.one_of(
    st.builds(VoteMsg, unsigned_votes),
    st.builds(ProposalMsg, forged_proposals, st.binary(max_size=300)),
    st.builds(GetRound, st.integers(0, 2**40), st.integers(0, 2**40)),
    st.builds(GetBlocks, st.integers(1, 10), st.integers(1, 64)),
    st.builds(TxsMsg, st.lists(st.binary(max_size=200), max_size=5).map(tuple)),
    st.builds(
        StatusMsg,
        st.integers(0, 2**40),
        st.integers(0, 2**31),
        st.sampled_from(list(Step)),
        st.integers(0, 2**40),
        st.booleans(),
        st.binary(max_size=32),
        st.binary(max_size=32),
    ),
    st.builds(CommittedBlock, st.binary(max_size=300), st.binary(max_size=300)),
).map(encode_wire)


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    _, corpus = recorded()
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.binary(max_size=400))
    if kind == 1:
        return draw(structured)
    base = draw(st.sampled_from(corpus))
    if kind == 2:
        return base  # replayed: stale or duplicate
    return mutate(
        base, draw(st.integers(0, 10**6)), draw(st.integers(0, 255)), draw(st.integers(0, 8))
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), payloads()), min_size=1, max_size=12))
def test_fuzzed_peer_messages_never_crash_nor_change_committed_state(
    messages: list[tuple[int, bytes]],
) -> None:
    snapshot, _ = recorded()
    net = Net(4)
    node = net.nodes[0]
    node.store = MemoryStore.restore_from(snapshot)
    node.replica = node._open()
    node.replica.start(0)
    peers = [n.key for n in net.nodes[1:]] + [b"\x07" * 32]  # the last is not a validator
    for peer in peers[:3]:
        node.replica.handle(ev.PeerConnected(peer), 1)
    before = (node.replica.last_committed_height, node.app.app_hash)
    for who, payload in messages:
        effects = node.replica.handle(ev.MessageReceived(peers[who], payload), 2)
        node.replica.check_invariants()
        assert not any(isinstance(e, ev.CommitBlock) for e in effects)
    assert (node.replica.last_committed_height, node.app.app_hash) == before
    assert codec.decode_sign_state(node.store.load_sign_state() or b"").height >= 1
