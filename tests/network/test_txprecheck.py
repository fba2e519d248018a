"""Gossiped tx batches verified in a worker thread before the replica admits them."""

from __future__ import annotations

from collections.abc import Sequence

import trio

from consensus.replica.wire import TxsMsg, encode_wire
from ledger.mempool import Mempool
from ledger.tx import Transfer
from ledger.txcodec import from_wire
from network.txprecheck import TxPrecheck
from tests.ledger.support import ALICE, BOB, TxFactory
from tests.ledger.test_mempool import _setup

PEER = b"\x07" * 32


def _transfers(make: TxFactory, count: int) -> list[bytes]:
    return [
        make(ALICE, Transfer(ALICE.public_key, BOB.public_key, "USD", 1, "")) for _ in range(count)
    ]


def test_preverify_reads_only_and_absorb_remembers_what_passed() -> None:
    app, make = _setup()
    cache = app.verified
    good = _transfers(make, 3)
    forged = bytearray(good[0])
    forged[-1] ^= 1  # the signature's last byte
    before, checks = len(cache), cache.verifications
    verified = cache.preverify([*good, bytes(forged), b"\x00garbage"])
    assert [tx for tx, _ in verified] == good
    assert len(cache) == before and cache.verifications == checks  # nothing written yet
    cache.absorb(verified)
    assert len(cache) == before + 3 and cache.verifications == checks + 3
    cache.absorb(verified)  # again: nothing new, nothing counted twice
    assert len(cache) == before + 3 and cache.verifications == checks + 3
    assert cache.preverify(good) == []  # known ones are skipped


async def _room() -> None:
    await trio.lowlevel.checkpoint()


async def _run_until_dispatched(
    precheck: TxPrecheck, payload: bytes, dispatched: Sequence[object]
) -> None:
    """Offer `payload`, run the precheck task until something was dispatched, stop it."""
    async with trio.open_nursery() as nursery:
        await nursery.start(precheck.run)
        assert precheck.offer(PEER, payload)
        with trio.fail_after(60):
            while not dispatched:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_a_batch_is_verified_off_the_loop_then_dispatched_in_order() -> None:
    app, make = _setup()
    pool = Mempool(app)
    dispatched: list[tuple[bytes, bytes]] = []

    def dispatch(peer: bytes, payload: bytes) -> None:
        dispatched.append((peer, payload))
        pool.add(first, app.height + 1)  # as if the replica admitted only the first

    txs = _transfers(make, 4)
    first = txs[0]
    precheck = TxPrecheck(app.verified, pool, dispatch=dispatch, wait_for_room=_room)
    checks = app.verified.verifications
    batch = encode_wire(TxsMsg(tuple(txs)))
    await _run_until_dispatched(precheck, batch, dispatched)
    assert dispatched == [(PEER, batch)]
    assert precheck.batches == 1 and precheck.prechecked == 4
    # verified once, in the worker; the admitted tx stays cached, the three that did not
    # enter the mempool were forgotten again
    assert app.verified.verifications == checks + 4
    assert pool.contains(from_wire(first).tx_id)
    assert app.verified.preverify([first]) == []
    assert len(app.verified.preverify(txs[1:])) == 3


def test_only_tx_batches_with_room_in_the_mempool_are_taken() -> None:
    app, make = _setup()
    full = Mempool(app, max_count=1)
    assert full.add(_transfers(make, 1)[0], app.height + 1).accepted
    batch = encode_wire(TxsMsg(tuple(_transfers(make, 2))))
    assert not TxPrecheck(
        app.verified, full, dispatch=lambda p, m: None, wait_for_room=_room
    ).offer(PEER, batch)
    roomy = TxPrecheck(app.verified, Mempool(app), dispatch=lambda p, m: None, wait_for_room=_room)
    assert roomy.offer(PEER, batch)
    assert not roomy.offer(PEER, b"\x92\x02\xc0")  # a vote-kind frame: handled inline
    assert not roomy.offer(PEER, b"")


async def test_a_malformed_batch_is_still_dispatched_with_nothing_verified() -> None:
    app, _ = _setup()
    dispatched: list[bytes] = []
    precheck = TxPrecheck(
        app.verified, Mempool(app), dispatch=lambda p, m: dispatched.append(m), wait_for_room=_room
    )
    bad = b"\x92\x07\x91\x01"  # kind "txs", but the list holds an int
    await _run_until_dispatched(precheck, bad, dispatched)
    assert dispatched == [bad] and precheck.prechecked == 0
