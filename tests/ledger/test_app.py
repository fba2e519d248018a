"""LedgerApp as the replica's Application: execution is side-effect free, the app hash is
incremental yet equal to a full recomputation, restarts from a store reproduce the state, and a
signature is verified at most once per validator."""

from __future__ import annotations

import attrs
import pytest

from consensus.interfaces import HeightRecord
from ledger.app import InvalidBlockError, LedgerApp, LedgerLoadError
from ledger.apphash import Accumulator
from ledger.codes import Code
from ledger.invariants import check_ledger_invariants
from ledger.layout import RED, balance_key, encode_int
from ledger.queries import pending_redemptions
from ledger.results import decode_result
from ledger.store_memory import MemoryStore
from ledger.tx import Mint, Redeem, RegisterParticipant, SettleRedemption, Transfer
from ledger.txcodec import from_wire
from ledger.used_ids import UsedId
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

A, B = ALICE.public_key, BOB.public_key


def _blocks(make: TxFactory) -> list[list[bytes]]:
    return [
        [
            make(COMP, RegisterParticipant(A, "alice", 1000)),
            make(COMP, RegisterParticipant(B, "bob", 1000)),
        ],
        [make(USD_ISSUER, Mint(A, "USD", 500, f"d{i}")) for i in range(3)],
        [make(ALICE, Transfer(A, B, "USD", 300, "")) for _ in range(6)],
        [],
        [make(BOB, Redeem("USD", 100)), make(ALICE, Transfer(A, B, "USD", 1, ""))],
    ]


def _run(app: LedgerApp, blocks: list[list[bytes]], store: MemoryStore | None = None) -> None:
    for txs in blocks:
        height = app.height + 1
        assert app.validate_block_txs(height, block_time(height), txs) is None
        execution = app.execute_block(height, block_time(height), txs)
        if store is not None:
            store.save_height(
                HeightRecord(
                    height,
                    b"block",
                    b"commit",
                    execution.app_hash,
                    execution.writes,
                    execution.tx_index,
                )
            )
        app.apply(execution)
        check_ledger_invariants(app.state)


def test_execute_does_not_touch_committed_state() -> None:
    app = LedgerApp(genesis())
    make = TxFactory()
    _run(app, _blocks(make)[:2])
    before, app_hash = dict(app.state), app.app_hash
    txs = [make(ALICE, Transfer(A, B, "USD", 5, "")), make(ALICE, Transfer(A, B, "USD", 7, ""))]
    first = app.execute_block(3, block_time(3), txs)
    second = app.execute_block(3, block_time(3), txs)
    assert dict(app.state) == before and app.app_hash == app_hash and app.height == 2
    assert first == second
    assert first.app_hash != app_hash
    assert [r.code for r in first.results] == ["OK", "OK"]


def test_incremental_app_hash_equals_full_recomputation_and_is_deterministic() -> None:
    apps = [LedgerApp(genesis()), LedgerApp(genesis())]
    assert apps[0].app_hash == genesis().app_hash0
    blocks = _blocks(TxFactory())
    hashes = []
    for app in apps:
        seen = []
        for txs in blocks:
            _run(app, [txs])
            assert app.app_hash == Accumulator.of_state(app.state).app_hash(app.height)
            seen.append(app.app_hash)
        hashes.append(seen)
    assert hashes[0] == hashes[1]
    assert len(set(hashes[0])) == len(blocks)
    # 1,500 minted to Alice; five of six 300 transfers fit; Bob redeems 100; Alice is empty
    assert apps[0].account(B).balances == {"USD": 1400}
    assert apps[0].account(A).balances == {}


def test_restart_from_store_reproduces_the_state() -> None:
    store = MemoryStore()
    app = LedgerApp(genesis())
    blocks = _blocks(TxFactory())
    _run(app, blocks, store)
    assert dict(store.iter_state()) == dict(app.state)  # block 1 carried the genesis entries
    again = LedgerApp.from_store(genesis(), store)
    assert (again.height, again.app_hash, dict(again.state)) == (
        app.height,
        app.app_hash,
        dict(app.state),
    )
    redeem_id = from_wire(blocks[4][0]).tx_id
    stored = store.load_tx_index(redeem_id)
    assert stored is not None and UsedId.decode(stored).height == 5
    assert again.tx_result(redeem_id) == app.tx_result(redeem_id)
    # both continue identically
    more = [TxFactory()(BOB, Transfer(B, A, "USD", 2, ""), nonce=b"\xff" * 16)]
    assert again.execute_block(6, block_time(6), more) == app.execute_block(6, block_time(6), more)


def test_empty_store_starts_from_genesis() -> None:
    app = LedgerApp.from_store(genesis(), MemoryStore())
    assert (app.height, app.app_hash) == (0, genesis().app_hash0)


def test_a_store_from_another_genesis_or_tampered_is_refused() -> None:
    store = MemoryStore()
    _run(LedgerApp(genesis()), _blocks(TxFactory())[:2], store)
    other = attrs.evolve(genesis(), chain_id="other")
    with pytest.raises(LedgerLoadError, match="genesis"):
        LedgerApp.from_store(other, store)
    with pytest.raises(LedgerLoadError, match="genesis"):
        LedgerApp.from_store(genesis(max_memo_bytes=1), store)
    # a height whose writes were altered after execution (a balance doubled)
    app = LedgerApp.from_store(genesis(), store)
    execution = app.execute_block(3, block_time(3), [])
    forged = {**execution.writes, balance_key(A, "USD"): encode_int(3000)}
    store.save_height(HeightRecord(3, b"b", b"c", execution.app_hash, forged, {}))
    with pytest.raises(LedgerLoadError, match="app hash"):
        LedgerApp.from_store(genesis(), store)


def test_misuse_is_refused() -> None:
    app = LedgerApp(genesis())
    with pytest.raises(InvalidBlockError):
        app.execute_block(1, 0, [b"\x90"])
    with pytest.raises(ValueError, match="height"):
        app.apply(app.execute_block(1, 0, []).__class__(2, b"", {}, (), (), {}))
    assert app.validate_block_txs(2, 0, []) is not None


def test_each_signature_is_verified_once() -> None:
    app = LedgerApp(genesis())
    make = TxFactory()
    blocks = _blocks(make)
    for tx in blocks[0]:
        assert app.check_tx(tx, block_time(1)).accepted
    assert app.verified.verifications == 2
    _run(app, blocks[:2])  # block 1 was seen by check_tx; block 2 is new
    assert app.verified.verifications == 2 + 3


def test_committed_transactions_leave_the_verification_cache() -> None:
    app = LedgerApp(genesis())
    make = TxFactory()
    pending = make(COMP, RegisterParticipant(A, "alice", 1000))
    block = [make(COMP, RegisterParticipant(B, "bob", 1000))]
    assert app.check_tx(pending, block_time(1)).accepted
    assert app.check_tx(block[0], block_time(1)).accepted
    assert len(app.verified) == 2
    commit(app, block)
    assert len(app.verified) == 1  # only the still-pending one is remembered
    executed_not_applied = [pending]
    app.execute_block(2, block_time(2), executed_not_applied)  # a proposal that never commits
    assert len(app.verified) == 1


def _registered(app: LedgerApp, make: TxFactory) -> None:
    commit(app, [make(COMP, RegisterParticipant(A, "alice", 10**6))])
    commit(app, [make(COMP, RegisterParticipant(B, "bob", 10**6))])
    commit(app, [make(USD_ISSUER, Mint(A, "USD", 10_000, "d1"))])


def _execute(app: LedgerApp, txs: list[bytes], time_ms: int) -> list[str]:
    height = app.height + 1
    assert app.validate_block_txs(height, time_ms, txs) is None
    execution = app.execute_block(height, time_ms, txs)
    app.apply(execution)
    return [r.code for r in execution.results]


def test_a_tx_id_commits_at_most_once_however_late_the_retry() -> None:
    app = LedgerApp(genesis())
    make = TxFactory()
    _registered(app, make)
    pay = make(ALICE, Transfer(A, B, "USD", 2500, ""), nonce=b"X" * 16)
    assert commit(app, [pay]) == ["OK"]
    x = from_wire(pay).tx_id
    first = app.tx_result(x)
    assert first is not None and (first.height, first.index, first.code) == (4, 0, "OK")
    # Chain time moves days past the window; the id is still remembered.
    late = 10 * 86_400_000
    assert _execute(app, [], late) == []
    again = app.check_tx(pay, late)
    assert (again.accepted, again.code) == (False, Code.ALREADY_COMMITTED)
    assert "height 4 (index 0) with OK" in again.message
    resigned = make(
        ALICE, Transfer(A, B, "USD", 2500, ""), nonce=b"X" * 16, valid_until_ms=late + 60_000
    )
    refused = app.check_tx(resigned, late)
    assert (refused.accepted, refused.code) == (False, Code.DUPLICATE_TX_ID)
    assert "height 4 (index 0)" in refused.message
    # Both reach a block anyway (a faulty proposer): they commit as failures with no effect.
    before = dict(app.state)
    assert _execute(app, [resigned], late + 1) == ["DUPLICATE_TX_ID"]
    assert dict(app.state) == before
    assert app.tx_result(x) == first
    assert app.account(B).balances == {"USD": 2500}


def test_the_first_use_of_an_id_in_a_block_counts_and_later_ones_do_nothing() -> None:
    app = LedgerApp(genesis())
    make = TxFactory()
    _registered(app, make)
    one = make(ALICE, Transfer(A, B, "USD", 10, ""), nonce=b"Y" * 16)
    other = make(ALICE, Transfer(A, B, "USD", 99, ""), nonce=b"Y" * 16)
    height = app.height + 1
    execution = app.execute_block(height, block_time(height), [one, one, other])
    assert [r.code for r in execution.results] == ["OK", "ALREADY_COMMITTED", "DUPLICATE_TX_ID"]
    y = from_wire(one).tx_id
    assert list(execution.tx_index) == [y]
    leaves = [decode_result(leaf) for leaf in execution.result_leaves]
    assert [(leaf.tx_id, leaf.code) for leaf in leaves] == [
        (y, "OK"),
        (y, "ALREADY_COMMITTED"),
        (y, "DUPLICATE_TX_ID"),
    ]
    app.apply(execution)
    assert app.account(B).balances == {"USD": 10}


def test_expired_or_too_far_ahead_transactions_make_a_block_invalid() -> None:
    app = LedgerApp(genesis())
    make = TxFactory()
    window = genesis().limits.max_validity_window_ms
    tx = make(COMP, RegisterParticipant(A, "alice", 10), valid_until_ms=5_000)
    assert app.validate_block_txs(1, 5_000, [tx]) is None
    assert "EXPIRED" in (app.validate_block_txs(1, 5_001, [tx]) or "")
    assert "TOO_FAR_AHEAD" in (app.validate_block_txs(1, 5_000 - window - 1, [tx]) or "")
    assert app.check_tx(tx, 5_001).code == Code.EXPIRED


def test_committed_ids_live_in_the_store_not_the_heap() -> None:
    """With a store, the app keeps only ids of heights the store has not saved yet."""
    store = MemoryStore()
    app = LedgerApp.from_store(genesis(), store)
    make = TxFactory()
    ids = []
    for height in range(1, 6):
        txs = [make(COMP, RegisterParticipant(bytes([height]) * 32, "p", 10)) for _ in range(3)]
        ids += [from_wire(tx).tx_id for tx in txs]
        execution = app.execute_block(height, block_time(height), txs)
        app.apply(execution)  # applied first, stored after, as the node does
        assert len(app._used) == 3 or (height == 1 and len(app._used) == 3)
        store.save_height(
            HeightRecord(
                height, b"b", b"c", execution.app_hash, execution.writes, execution.tx_index
            )
        )
    assert len(app._used) <= 3
    assert all(app.tx_result(tx_id) is not None for tx_id in ids)
    again = LedgerApp.from_store(genesis(), store)
    assert len(again._used) == 0
    assert again.tx_result(ids[7]) == app.tx_result(ids[7]) is not None


def test_pending_redemptions_are_summed_per_holder_until_settled() -> None:
    app = LedgerApp(genesis())
    make = TxFactory()
    commit(app, [make(COMP, RegisterParticipant(A, "alice", 1000))])
    commit(app, [make(USD_ISSUER, Mint(A, "USD", 500, "d1"))])
    first, second = make(ALICE, Redeem("USD", 100)), make(ALICE, Redeem("USD", 30))
    commit(app, [first, second])

    def pending(holder: bytes) -> dict[str, int]:
        entries = sorted((k, v) for k, v in app.state.items() if k.startswith(RED))
        return pending_redemptions(entries, holder)

    assert pending(A) == {"USD": 130}
    assert pending(B) == {}
    settle = SettleRedemption(from_wire(first).tx_id, "payout-1")
    assert commit(app, [make(USD_ISSUER, settle)]) == ["OK"]
    assert pending(A) == {"USD": 30}


def test_only_the_signer_can_use_its_ids() -> None:
    """tx_id = H(signer, nonce): another key copying a pending payment's nonce gets another id,
    so it cannot lock the payer out of the id by committing first."""
    app = LedgerApp(genesis())
    make = TxFactory()
    _registered(app, make)
    pay = make(ALICE, Transfer(A, B, "USD", 100, ""), nonce=b"N" * 16)
    squat = make(BOB, Transfer(B, A, "USD", 1, ""), nonce=b"N" * 16)
    assert from_wire(pay).tx_id != from_wire(squat).tx_id
    assert commit(app, [squat, pay]) == ["INSUFFICIENT_FUNDS", "OK"]
    assert app.account(B).balances == {"USD": 100}
