"""A crash loses nothing progress needs: the blocks the lock and valid value name are kept
with the sign state (consensus/replica/kept.py), beside its polka and own votes.

The regression behind it (simulator seed 108): every validator locked on a block, then every
holder of that block crashed; the block lived only in memory, so the restarted validators
stayed locked on a value nobody could re-propose, for ever.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consensus import codec
from consensus.messages import Step, VoteType
from consensus.proposer import proposer
from consensus.replica import events as ev
from consensus.replica.block import block_id, decode_block
from consensus.replica.replica import ReplicaStartError
from consensus.replica.wire import ProposalMsg, VoteMsg, decode_wire
from ledger.store_memory import MemoryStore
from tests.consensus.replica.driver import Net, Node, TxMaker


def _locks(effect: ev.ReplicaEffect) -> bool:
    """A sign state that locks a value is now durable (its precommit has not left yet)."""
    if not isinstance(effect, ev.PersistSignState):
        return False
    return codec.decode_sign_state(effect.data).locked_value is not None


def locked_then_all_crashed(tmp_path: Path | None = None) -> Net:
    """4 validators lock on the height-1 block; each crashes right after persisting its lock,
    before its precommit leaves, so nobody decides and nobody keeps the block in memory."""
    net = Net(4, tmp_path=tmp_path)
    for node in net.nodes:
        node.crash_on = _locks
    net.start()
    net.submit(net.nodes[0], TxMaker(net).mint(1, 3_00))
    net.run_until(lambda: not any(n.alive for n in net.nodes), 5_000)
    return net


@pytest.mark.parametrize("store", ["memory", "lmdb"])
def test_a_core_locked_on_a_block_every_holder_lost_in_a_crash_still_commits_it(
    store: str, tmp_path: Path
) -> None:
    net = locked_then_all_crashed(tmp_path if store == "lmdb" else None)
    locks = {
        codec.decode_sign_state(n.store.load_sign_state() or b"").locked_value for n in net.nodes
    }
    assert len(locks) == 1 and None not in locks, "every validator locked the same block"
    (locked,) = locks
    assert all(n.store.last_height() == 0 for n in net.nodes)
    net.run_for(100)
    for node in net.nodes:
        node.restart()
    net.run_until(lambda: net.min_height() >= 1, 20_000)
    net.assert_agreement()
    assert net.nodes[0].commits[-1].block_id == locked, "the locked block is the one committed"
    net.close()


def test_the_lock_is_persisted_with_its_block_and_polka() -> None:
    net = locked_then_all_crashed()
    for node in net.nodes:
        state, blocks = codec.decode_sign_record(node.store.load_sign_state() or b"")
        assert state.valid_value == state.locked_value is not None
        assert len(blocks) == 1
        assert block_id(decode_block(blocks[0], 1 << 24).header) == state.locked_value
        voters = {v.validator for v in state.valid_polka}
        assert 3 * sum(net.validators.power_of(k) for k in voters) > 2 * 40


def test_a_kept_block_that_names_neither_value_is_a_corrupt_store() -> None:
    net = locked_then_all_crashed()
    node = net.nodes[0]
    state, blocks = codec.decode_sign_record(node.store.load_sign_state() or b"")
    other = codec.decode_sign_record(net.nodes[1].store.load_sign_state() or b"")[1]
    assert blocks == other  # the same block: tamper with it instead
    assert isinstance(node.store, MemoryStore)
    bad = (blocks[0][:-1] + b"\x00",)
    node.store.save_sign_state(codec.encode_sign_state(state, bad))
    with pytest.raises(ReplicaStartError, match="corrupt"):
        node.restart()


def test_the_plain_form_is_unchanged_when_nothing_is_kept() -> None:
    net = locked_then_all_crashed()
    state = codec.decode_sign_state(net.nodes[0].store.load_sign_state() or b"")
    plain = codec.encode_sign_state(state)
    assert codec.decode_sign_record(plain) == (state, ())
    assert plain == codec.packb(codec.sign_state_to_obj(state))


def test_a_crash_right_after_the_restart_keeps_the_block_and_polka_too() -> None:
    """The restart re-sends its votes and persists the sign state again at once: that persist
    must still carry the block (and the polka) for a second restart."""
    net = locked_then_all_crashed()
    for node in net.nodes:
        node.crash_on = lambda e: isinstance(e, ev.PersistSignState)
        node.restart()
    assert not any(n.alive for n in net.nodes), "each crashed again right after its restart"
    for node in net.nodes:
        state, blocks = codec.decode_sign_record(node.store.load_sign_state() or b"")
        assert blocks and state.valid_polka
        node.restart()
    net.run_until(lambda: net.min_height() >= 1, 20_000)
    net.assert_agreement()


def test_a_prevote_lost_in_a_crash_is_not_waited_for_forever() -> None:
    """A and B see all four nil prevotes and precommit nil; C and D never receive A's and B's
    prevotes (the network drops them), and A and B crash right after persisting their
    precommits, before they leave. Restarted, A and B re-send only their precommits: C and D
    hold two prevotes and two precommits of round 0, none of the quorums that start a timeout,
    and nothing else would ever arrive, unless A and B kept their own prevotes."""
    net = Net(4)
    a, b, c, d = net.nodes
    dropping = True
    deliver = net.send

    def send(src: Node, dst: Node, payload: bytes) -> None:
        msg = decode_wire(payload)
        lost = isinstance(msg, ProposalMsg) or (
            isinstance(msg, VoteMsg)
            and msg.vote.type is VoteType.PREVOTE
            and src in (a, b)
            and dst in (c, d)
        )
        if dropping and lost:
            net.record_signed(src, payload)
        else:
            deliver(src, dst, payload)

    def precommits(effect: ev.ReplicaEffect) -> bool:
        if not isinstance(effect, ev.PersistSignState):
            return False
        return codec.decode_sign_state(effect.data).step is Step.PRECOMMIT

    net.send = send  # type: ignore[method-assign]
    a.crash_on = b.crash_on = precommits
    net.start()
    net.submit(a, TxMaker(net).mint(1, 3_00))
    net.run_until(lambda: not a.alive and not b.alive, 5_000)
    assert [n.replica.core.step for n in (c, d)] == [Step.PREVOTE, Step.PREVOTE]
    dropping = False
    net.run_for(50)
    a.restart()
    b.restart()
    net.run_until(lambda: net.min_height() >= 1, 20_000)
    net.assert_agreement()


def test_an_own_prevote_signed_after_the_persisted_guard_is_not_kept() -> None:
    """A proposer signs its proposal and, in the same step, its prevote (two persists).
    Crashing between the two persists must not leave its prevote on disk beside a guard that
    does not cover it, or the restart could sign another prevote in that slot (the driver
    raises DoubleSign)."""
    net = Net(4)
    first = proposer(net.validators, 1, 0)
    node = net.by_key(first)

    def proposal_persisted(effect: ev.ReplicaEffect) -> bool:
        if not isinstance(effect, ev.PersistSignState):
            return False
        last = codec.decode_sign_state(effect.data).last_signed
        return last is not None and last.step is Step.PROPOSE

    node.crash_on = proposal_persisted
    net.start()
    net.submit(node, TxMaker(net).mint(1, 3_00))
    net.run_until(lambda: not node.alive, 5_000)
    state = codec.decode_sign_state(node.store.load_sign_state() or b"")
    assert state.last_signed is not None and state.last_signed.step is Step.PROPOSE
    assert not [v for v in (*state.own_votes, *state.valid_polka) if v.validator == node.key]
    node.restart()
    net.run_until(lambda: net.min_height() >= 2, 20_000)
    net.assert_agreement()
