"""Equivocation: evidence is detected, gossiped, committed in a later block, and only once."""

from __future__ import annotations

import functools

import attrs

from consensus.messages import Proposal, Vote, VoteType
from consensus.proposer import proposer
from consensus.replica import events as ev
from consensus.replica.block import block_id, decode_block, encode_block
from consensus.replica.wire import EvidenceMsg, ProposalMsg, VoteMsg, decode_wire, encode_wire
from consensus.signing import sign_proposal, sign_vote
from tests.consensus.replica.driver import CHAIN, Net, Node


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


def test_equivocating_proposer_has_its_evidence_committed_in_a_later_block() -> None:
    """The proposer of height 3 sends one block to node `victim`, another to the rest, and
    prevotes both: its conflicting prevotes are evidence, committed once, later."""
    net = Net(4)
    height = 3
    cheat = net.by_key(proposer(net.validators, height, 0))
    victim = next(n for n in net.nodes if n is not cheat)
    injected: list[Vote] = []

    def tamper(src: Node, dst: Node, payload: bytes) -> bytes:
        msg = decode_wire(payload)
        if src is not cheat or dst is not victim or not isinstance(msg, ProposalMsg):
            return payload
        if (msg.proposal.height, msg.proposal.round) != (height, 0):
            return payload
        block = decode_block(msg.block, 1 << 24)
        header = attrs.evolve(block.header, time_ms=block.header.time_ms + 1)
        alt = attrs.evolve(block, header=header)
        alt_id = block_id(alt.header)
        other = sign_proposal(cheat.signer, CHAIN, Proposal(height, 0, -1, alt_id, cheat.key))
        vote = sign_vote(cheat.signer, CHAIN, Vote(VoteType.PREVOTE, height, 0, alt_id, cheat.key))
        injected.append(vote)
        event = ev.MessageReceived(cheat.key, encode_wire(VoteMsg(vote)))
        for node in net.nodes:
            if node is not cheat:
                net.at(net.now + 7, functools.partial(net.call, node, event))
        return encode_wire(ProposalMsg(other, encode_block(alt)))

    net.tamper = tamper
    net.start()
    net.run_until(lambda: any(v == cheat.key for _, v in committed_evidence(net)), 10_000)
    assert injected, "the cheat proposed at the chosen height"
    ((included_at, _),) = committed_evidence(net)
    assert included_at > height
    top = net.min_height()
    net.run_until(lambda: net.min_height() >= top + 3, 5_000)
    assert len(committed_evidence(net)) == 1
    net.assert_agreement()
