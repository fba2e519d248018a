"""Equivocation: evidence is detected, gossiped, committed in a later block, and only once."""

from __future__ import annotations

from consensus.messages import Vote, VoteType
from consensus.replica import events as ev
from consensus.replica.block import decode_block
from consensus.replica.wire import EvidenceMsg, VoteMsg, encode_wire
from consensus.signing import sign_vote
from tests.consensus.replica.driver import CHAIN, Net


def committed_evidence(net: Net) -> list[tuple[int, bytes]]:
    store = net.nodes[0].store
    found = []
    for h in range(1, store.last_height() + 1):
        block = decode_block(store.load_block(h) or b"", 1 << 24)
        found += [(h, e.vote_a.validator) for e in block.evidence]
    return found


def test_equivocating_validator_has_its_evidence_committed_once() -> None:
    net = Net(4)
    net.start()
    net.run_until(lambda: net.min_height() >= 2, 5_000)
    cheat = net.nodes[3]
    height = max(n.replica.height for n in net.nodes) + 1
    votes = [
        sign_vote(
            cheat.signer, CHAIN, Vote(VoteType.PREVOTE, height, 0, bytes([i]) * 32, cheat.key)
        )
        for i in (1, 2)
    ]
    for node in net.nodes[:3]:
        for vote in votes:
            net.call(node, ev.MessageReceived(cheat.key, encode_wire(VoteMsg(vote))))
    net.run_until(lambda: any(v == cheat.key for _, v in committed_evidence(net)), 10_000)
    found = [e for n in net.nodes for e in n.effects_log if isinstance(e, ev.EvidenceFound)]
    assert found and all(e.evidence.vote_a.validator == cheat.key for e in found)
    ((included_at, _),) = committed_evidence(net)
    assert included_at > height
    # The same evidence gossiped again later is known, and never committed a second time.
    evidence = found[0].evidence
    for node in net.nodes:
        net.call(node, ev.MessageReceived(cheat.key, encode_wire(EvidenceMsg(evidence))))
    top = net.min_height()
    net.run_until(lambda: net.min_height() >= top + 3, 5_000)
    assert len(committed_evidence(net)) == 1
    net.assert_agreement()
