"""Single-replica behaviour: validity, empty-block mode, bounded memory, hostile peers."""

from __future__ import annotations

from typing import Any

import attrs

from consensus.interfaces import TxAdmission
from consensus.merkle import merkle_root
from consensus.messages import DuplicateVoteEvidence, Vote, VoteType
from consensus.replica import events as ev
from consensus.replica.base import EMPTY_BLOCK_TIMER
from consensus.replica.block import Block, block_id, decode_block, make_block
from consensus.replica.chain import check_block, check_execution
from consensus.replica.config import ReplicaConfig
from consensus.replica.wire import GetRound, TxsMsg, VoteMsg, encode_wire
from consensus.signing import sign_vote
from tests.consensus.replica.driver import CHAIN, FAST, FAST_TIMEOUTS, USERS, Net, TxMaker


def started(n_heights: int = 3) -> Net:
    net = Net(4)
    net.start()
    net.run_until(lambda: net.min_height() >= n_heights, 5_000)
    return net


def validity(net: Net, block: Block) -> str | None:
    """valid(v) as the replica judges it: the block, then its execution."""
    r = net.nodes[0].replica
    reason = check_block(
        block,
        chain_id=CHAIN,
        tip=r.tip,
        app=net.nodes[0].app,
        pool=r._pool,
        validators=net.validators,
        scheme=net.scheme,
        config=r.config,
    )
    if reason is not None:
        return reason
    header = block.header
    execution = net.nodes[0].app.execute_block(header.height, header.time_ms, block.txs)
    return check_execution(header, execution)


def next_block(net: Net, **changes: Any) -> Block:
    """The next block as an honest proposer would make it, but for `changes` (the header
    commits to the execution of the unchanged body unless `app_hash`/`results_root` say)."""
    r = net.nodes[0].replica
    fields: dict[str, Any] = dict(
        chain_id=CHAIN,
        height=r.tip.height + 1,
        time_ms=r.tip.time_ms + 1,
        prev_block_id=r.tip.block_id,
        proposer=net.nodes[1].key,
        txs=(),
        last_commit=r.tip.commit,
        evidence=(),
    )
    fields.update(changes)
    if "app_hash" not in fields or "results_root" not in fields:
        execution = net.nodes[0].app.execute_block(r.tip.height + 1, r.tip.time_ms + 1, [])
        fields.setdefault("app_hash", execution.app_hash)
        fields.setdefault("results_root", merkle_root(execution.result_leaves))
    return make_block(**fields)


def test_validity_depends_on_the_block_and_the_committed_chain() -> None:
    net = started()
    assert validity(net, next_block(net)) is None
    r = net.nodes[0].replica
    commit = r.tip.commit
    assert commit is not None
    weak = attrs.evolve(commit, precommits=commit.precommits[:1])
    cheat = net.nodes[3]
    ev_votes = [
        sign_vote(cheat.signer, CHAIN, Vote(VoteType.PREVOTE, 2, 0, bytes([i]) * 32, cheat.key))
        for i in (1, 2)
    ]
    forged = attrs.evolve(ev_votes[1], signature=bytes(64))
    cases = {
        "chain": next_block(net, chain_id="other"),
        "height": next_block(net, height=r.tip.height + 2),
        "extend": next_block(net, prev_block_id=b"\x01" * 32),
        "app hash": next_block(net, app_hash=b"\x02" * 32),
        "results root": next_block(net, results_root=b"\x02" * 32),
        "time": next_block(net, time_ms=r.tip.time_ms),
        "time jump": next_block(net, time_ms=r.tip.time_ms + r.config.max_block_time_step_ms + 1),
        "proposer": next_block(net, proposer=b"\x03" * 32),
        "last commit": next_block(net, last_commit=weak),
        "evidence": next_block(net, evidence=(DuplicateVoteEvidence(ev_votes[0], forged),)),
        "transaction": next_block(net, txs=(b"not a transaction",)),
    }
    for what, block in cases.items():
        assert validity(net, block) is not None, what
    good = next_block(net, evidence=(DuplicateVoteEvidence(*ev_votes),))
    assert validity(net, good) is None
    twice = next_block(net, evidence=(DuplicateVoteEvidence(*ev_votes),) * 2)
    assert "duplicated" in (validity(net, twice) or "")


def test_no_empty_blocks_mode_waits_for_a_transaction_or_the_interval() -> None:
    config = attrs.evolve(FAST, create_empty_blocks=False, empty_block_interval_ms=5_000)
    net = Net(4, config=config)
    net.start()
    net.run_for(2_000)
    assert net.min_height() == 0  # nothing to do yet
    txs = TxMaker(net)
    net.submit(net.nodes[2], txs.mint(0, 1_00))
    net.run_until(lambda: net.min_height() >= 1, 2_000)
    block = decode_block(net.nodes[0].store.load_block(1) or b"", 1 << 20)
    assert len(block.txs) == 1
    net.run_for(1_000)
    assert net.min_height() == 1  # idle again
    net.run_until(lambda: net.min_height() >= 2, 6_000)  # the interval produced an empty block
    net.assert_agreement()


def test_an_empty_block_timer_fired_early_is_armed_again_for_its_deadline() -> None:
    config = attrs.evolve(FAST, create_empty_blocks=False, empty_block_interval_ms=5_000)
    net = Net(4, config=config)
    net.start()
    replica = net.nodes[0].replica
    waiting_since = replica._waiting_since_ms
    assert waiting_since is not None
    deadline = waiting_since + 5_000
    early = replica.handle(ev.TimerFired(EMPTY_BLOCK_TIMER), deadline - 1)
    assert early == [ev.SetTimer(deadline, EMPTY_BLOCK_TIMER)]
    assert replica._waiting_since_ms == waiting_since  # still waiting, same deadline
    assert replica.handle(ev.TimerFired(EMPTY_BLOCK_TIMER), deadline) != []  # the height starts
    assert replica._waiting_since_ms is None


def test_far_future_and_flooding_messages_are_bounded() -> None:
    config = ReplicaConfig(timeouts=FAST_TIMEOUTS, max_buffered_per_peer=8)
    net = Net(4, config=config)
    net.start()
    node, cheat = net.nodes[0], net.nodes[3]
    h = node.replica.height
    for i in range(200):
        height = h + 1 + i % 2  # within the buffered window
        vote = sign_vote(
            cheat.signer, CHAIN, Vote(VoteType.PREVOTE, height, i, bytes(32), cheat.key)
        )
        node.replica.handle(ev.MessageReceived(cheat.key, encode_wire(VoteMsg(vote))), 0)
    far = sign_vote(cheat.signer, CHAIN, Vote(VoteType.PREVOTE, h + 50, 0, None, cheat.key))
    node.replica.handle(ev.MessageReceived(cheat.key, encode_wire(VoteMsg(far))), 0)
    assert len(node.replica._future) == 8
    node.replica.check_invariants()
    for i in range(100):  # rounds far ahead at the current height: the core caps them
        vote = sign_vote(cheat.signer, CHAIN, Vote(VoteType.PREVOTE, h, 10 + i, None, cheat.key))
        node.replica.handle(ev.MessageReceived(cheat.key, encode_wire(VoteMsg(vote))), 0)
    assert len(node.replica.core.rounds()) <= 4


def test_messages_from_non_validators_are_dropped_and_reported() -> None:
    net = Net(4)
    net.start()
    node = net.nodes[0]
    stranger = b"\x09" * 32
    effects = node.replica.handle(ev.MessageReceived(stranger, encode_wire(GetRound(1, 0))), 0)
    assert effects == [ev.PeerMisbehaved(stranger, "message from a non-validator")]
    assert node.replica.handle(ev.PeerConnected(stranger), 0) == []


def test_round_request_returns_the_proposal_with_its_block_and_the_votes() -> None:
    net = Net(4)
    net.start()
    net.run_until(lambda: all(n.replica.core.votes(0, VoteType.PREVOTE) for n in net.nodes), 2_000)
    node = net.nodes[0]
    h = node.replica.height
    asker = net.nodes[1].key
    effects = node.replica.handle(ev.MessageReceived(asker, encode_wire(GetRound(h, 0))), net.now)
    kinds = [type(e) for e in effects]
    assert kinds and set(kinds) == {ev.SendTo}


def test_tx_gossip_reaches_every_mempool_once_and_drops_duplicates() -> None:
    net = Net(4)
    txs = TxMaker(net)
    calls: list[bytes] = []
    receiver = net.nodes[1]
    original = receiver.mempool.add

    def counting_add(tx: bytes, time_ms: int) -> TxAdmission:
        calls.append(tx)
        return original(tx, time_ms)

    receiver.mempool.add = counting_add  # type: ignore[method-assign]
    net.start()
    tx = txs.mint(0, 1_00)
    assert net.submit(net.nodes[0], tx).admission.accepted
    net.run_for(11)  # the flush timer (5 ms), then one hop (5 ms)
    for node in net.nodes:
        assert node.mempool.pending(1 << 20, 10) == [tx]
    assert calls == [tx]
    payload = encode_wire(TxsMsg((tx,)))
    receiver.replica.handle(ev.MessageReceived(net.nodes[2].key, payload), net.now)
    assert calls == [tx]  # a duplicate is dropped by hash before the mempool sees it
    net.run_until(lambda: all(len(n.mempool) == 0 for n in net.nodes), 2_000)
    assert net.nodes[0].app.account(USERS[0].public_key).balances == {"USD": 1_00}


def test_block_id_of_committed_blocks_chains() -> None:
    net = started(4)
    store = net.nodes[0].store
    prev = bytes(32)
    for h in range(1, store.last_height() + 1):
        block = decode_block(store.load_block(h) or b"", 1 << 20)
        assert block.header.prev_block_id == prev
        prev = block_id(block.header)


def test_each_block_is_executed_once_before_the_vote_and_applied_at_commit() -> None:
    """Blocks are executed to judge them (the header commits to the outcome); the decided
    one is applied from that execution, not executed again."""
    net = Net(4)
    calls: list[int] = []
    node = net.nodes[2]
    original = node.app.execute_block

    def counting(height: int, time_ms: int, txs: Any) -> Any:
        calls.append(height)
        return original(height, time_ms, txs)

    node.app.execute_block = counting  # type: ignore[method-assign]
    net.start()
    txs = TxMaker(net)
    net.submit(net.nodes[0], txs.mint(0, 5_00))
    net.run_until(lambda: net.min_height() >= 5, 5_000)
    committed = node.store.last_height()
    assert sorted(set(calls)) == list(range(1, max(calls) + 1))
    assert len(calls) == len(set(calls))  # one proposal per height here: one execution each
    assert committed <= max(calls) <= committed + 1
    assert node.app.account(USERS[0].public_key).balances == {"USD": 5_00}
