"""The mempool: admission, bounds with a clear MEMPOOL_FULL, arrival-order reaping, removal."""

from __future__ import annotations

from typing import Any

from ledger.app import LedgerApp
from ledger.mempool import Mempool
from ledger.tx import Mint, RegisterParticipant, Transfer
from ledger.txcodec import from_wire
from tests.ledger.support import (
    ALICE,
    BOB,
    COMP,
    USD_ISSUER,
    TxFactory,
    block_time,
    commit,
    genesis,
)

NOW = block_time(2)  # admission for the block after the setup's block 1

A, B = ALICE.public_key, BOB.public_key


def _setup() -> tuple[LedgerApp, TxFactory]:
    app = LedgerApp(genesis())
    make = TxFactory()
    commit(
        app,
        [
            make(COMP, RegisterParticipant(A, "alice", 1000)),
            make(COMP, RegisterParticipant(B, "bob", 1000)),
            make(USD_ISSUER, Mint(A, "USD", 10_000, "d")),
        ],
    )
    return app, make


def _pay(make: TxFactory, amount: int, **kw: Any) -> bytes:
    return make(ALICE, Transfer(A, B, "USD", amount, ""), **kw)


def test_admission_duplicates_and_static_refusals() -> None:
    app, make = _setup()
    pool = Mempool(app)
    tx = _pay(make, 1)
    assert pool.add(tx, NOW).accepted
    assert pool.contains(from_wire(tx).tx_id)
    assert pool.add(tx, NOW).code == "ALREADY_IN_MEMPOOL"
    assert pool.add(_pay(make, 2, nonce=from_wire(tx).nonce), NOW).code == "DUPLICATE_TX_ID"
    assert pool.add(tx[:-1], NOW).code == "MALFORMED"
    assert pool.add(_pay(make, 1, valid_until_ms=NOW - 1), NOW).code == "EXPIRED"
    assert (len(pool), pool.size_bytes) == (1, len(tx))


def test_bounds_by_count_and_bytes() -> None:
    app, make = _setup()
    txs = [_pay(make, i + 1) for i in range(5)]
    by_count = Mempool(app, max_count=3)
    assert [by_count.add(t, NOW).code for t in txs] == ["OK"] * 3 + ["MEMPOOL_FULL"] * 2
    by_bytes = Mempool(app, max_bytes=2 * len(txs[0]) + 10)
    assert [by_bytes.add(t, NOW).code for t in txs] == ["OK"] * 2 + ["MEMPOOL_FULL"] * 3
    assert by_bytes.statistics().count == 2


def test_reap_in_arrival_order_within_budgets() -> None:
    app, make = _setup()
    pool = Mempool(app)
    txs = [_pay(make, i + 1) for i in range(6)]
    for t in txs:
        pool.add(t, NOW)
    assert pool.reap(max_bytes=10**6, max_count=4, time_ms=NOW) == txs[:4]
    assert pool.reap(max_bytes=3 * len(txs[0]), max_count=100, time_ms=NOW) == txs[:3]
    assert pool.reap(max_bytes=len(txs[0]) - 1, max_count=100, time_ms=NOW) == []
    assert pool.pending(max_bytes=10**6, max_count=4) == txs[:4]
    assert len(pool) == 6  # reaping does not remove


def test_reap_takes_what_is_valid_at_the_block_time() -> None:
    app, make = _setup()
    pool = Mempool(app)
    window = genesis().limits.max_validity_window_ms
    soon = _pay(make, 1, valid_until_ms=NOW + 100)
    later = _pay(make, 2, valid_until_ms=NOW + window)
    for t in (soon, later):
        assert pool.add(t, NOW).accepted
    # A proposer whose clock is behind: `later` is too far ahead for its block, and waits.
    assert pool.reap(10**6, 100, NOW - 1) == [soon]
    assert len(pool) == 2
    # A block after `soon` expired: it is dropped, never proposed.
    assert pool.reap(10**6, 100, NOW + 101) == [later]
    assert not pool.contains(from_wire(soon).tx_id)
    assert pool.pending(10**6, 100) == [later]


def test_update_removes_committed_and_expired_and_refuses_replays() -> None:
    app, make = _setup()
    pool = Mempool(app)
    keep = _pay(make, 1, valid_until_ms=NOW + 10_000)
    expires = _pay(make, 2, valid_until_ms=NOW - 1)
    committed = _pay(make, 3)
    for t in (keep, expires, committed):
        assert pool.add(t, NOW - 500).accepted
    execution = app.execute_block(2, NOW, [committed])
    app.apply(execution)
    pool.update(2, NOW, [r.tx_id for r in execution.results])
    assert pool.pending(10**6, 100) == [keep]
    assert pool.size_bytes == len(keep)
    again = pool.add(committed, block_time(3))
    assert (again.code, again.message) == (
        "ALREADY_COMMITTED",
        "committed at height 2 (index 0) with OK",
    )


def test_a_full_pool_refuses_without_verifying_or_remembering() -> None:
    app, make = _setup()
    pool = Mempool(app, max_count=2)
    txs = [_pay(make, i + 1) for i in range(5)]
    assert [pool.add(t, NOW).code for t in txs[:2]] == ["OK", "OK"]
    verified, cached = app.verified.verifications, len(app.verified)
    assert [pool.add(t, NOW).code for t in txs[2:]] == ["MEMPOOL_FULL"] * 3
    assert (app.verified.verifications, len(app.verified)) == (verified, cached)


def test_refused_and_expired_transactions_leave_the_verification_cache() -> None:
    app, make = _setup()
    pool = Mempool(app)
    committed = _pay(make, 1)
    commit(app, [committed])
    cached = len(app.verified)
    assert pool.add(committed, block_time(3)).code == "ALREADY_COMMITTED"
    assert len(app.verified) == cached
    short_lived = _pay(make, 2, valid_until_ms=block_time(4) - 1)
    assert pool.add(short_lived, block_time(3)).accepted
    assert len(app.verified) == cached + 1
    pool.update(4, block_time(4), [])
    assert not pool.contains(from_wire(short_lived).tx_id)
    assert len(app.verified) == cached
