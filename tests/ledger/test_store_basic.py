"""Both stores, one behaviour: every test here runs against MemoryStore and LmdbStore."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consensus.interfaces import HeightRecord, StoreError
from ledger.store_keys import MAX_KEY_SIZE, StoreClosedError
from ledger.store_lmdb import LmdbStore
from ledger.store_memory import MemoryStore

Reopen = Callable[[Any], Any]


def _record(height: int, writes: Any = None, results: Any = None) -> HeightRecord:
    return HeightRecord(
        height=height,
        block=b"block-%d" % height,
        commit=b"commit-%d" % height,
        app_hash=b"hash-%d" % height,
        writes={} if writes is None else writes,
        tx_index={} if results is None else results,
        results=b"results-%d" % height,
    )


@pytest.fixture(params=["memory", "lmdb"])
def store_and_reopen(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Any, Reopen]]:
    """A fresh store, and a function that closes it and returns it reopened."""
    opened: list[Any] = []
    if request.param == "memory":

        def reopen(store: Any) -> Any:
            store.close()
            again = MemoryStore.restore_from(store.snapshot())
            opened.append(again)
            return again

        first: Any = MemoryStore()
    else:

        def reopen(store: Any) -> Any:
            store.close()
            again = LmdbStore.open(tmp_path / "db")
            opened.append(again)
            return again

        first = LmdbStore.open(tmp_path / "db")
    opened.append(first)
    yield first, reopen
    for store in opened:
        store.close()


@pytest.fixture
def store(store_and_reopen: tuple[Any, Reopen]) -> Any:
    return store_and_reopen[0]


def test_empty_store(store: Any) -> None:
    assert store.last_height() == 0
    assert store.load_sign_state() is None
    assert store.load_block(1) is None
    assert store.load_commit(0) is None
    assert store.load_app_hash(-1) is None
    assert store.get_state(b"k") is None
    assert store.load_tx_index(b"t") is None
    assert list(store.iter_state()) == []


def test_save_and_read_heights(store: Any) -> None:
    store.save_height(_record(1, {b"a": b"1", b"b": b"2", b"c": b""}, {b"tx1": b"ok"}))
    store.save_height(_record(2, {b"a": None, b"b": b"22", b"gone": None}, {b"tx2": b"fail"}))
    assert store.last_height() == 2
    for h in (1, 2):
        assert store.load_block(h) == b"block-%d" % h
        assert store.load_commit(h) == b"commit-%d" % h
        assert store.load_app_hash(h) == b"hash-%d" % h
    assert store.load_block(3) is None
    assert store.get_state(b"a") is None
    assert store.get_state(b"b") == b"22"
    assert store.get_state(b"c") == b""
    assert store.load_tx_index(b"tx1") == b"ok"
    assert store.load_tx_index(b"tx2") == b"fail"


def test_iter_state_prefix_in_key_order(store: Any) -> None:
    keys = [b"acct/\xff", b"acct/b", b"acct/a", b"acct", b"acc", b"b", b"\x00", b"acct/\xff\xff"]
    store.save_height(_record(1, {k: k + b"!" for k in keys}))
    assert list(store.iter_state()) == [(k, k + b"!") for k in sorted(keys)]
    assert [k for k, _ in store.iter_state(b"acct/")] == [
        b"acct/a",
        b"acct/b",
        b"acct/\xff",
        b"acct/\xff\xff",
    ]
    assert [k for k, _ in store.iter_state(b"acct/\xff")] == [b"acct/\xff", b"acct/\xff\xff"]
    assert list(store.iter_state(b"zz")) == []
    assert list(store.iter_state(b"x" * (MAX_KEY_SIZE + 1))) == []


@pytest.mark.parametrize("height", [0, 2, 3, -1, True])
def test_wrong_height_is_refused_and_changes_nothing(store: Any, height: Any) -> None:
    with pytest.raises(StoreError):
        store.save_height(_record(height, {b"k": b"v"}))
    assert store.last_height() == 0
    assert store.get_state(b"k") is None


def test_height_error_names_both_heights(store: Any) -> None:
    store.save_height(_record(1))
    with pytest.raises(StoreError, match=r"height 5.*at height 1.*height 2"):
        store.save_height(_record(5))
    with pytest.raises(StoreError, match="height 1"):
        store.save_height(_record(1))
    assert store.last_height() == 1


@pytest.mark.parametrize(
    ("writes", "results"),
    [
        ({b"ok": b"1", b"": b"v"}, {}),
        ({b"ok": b"1", b"k" * (MAX_KEY_SIZE + 1): b"v"}, {}),
        ({b"ok": b"1", "text": b"v"}, {}),
        ({b"ok": b"1", b"k": 5}, {}),
        ({b"ok": b"1"}, {b"": b"r"}),
        ({b"ok": b"1"}, {b"t": None}),
    ],
)
def test_bad_record_is_refused_whole(store: Any, writes: Any, results: Any) -> None:
    with pytest.raises(StoreError):
        store.save_height(_record(1, writes, results))
    assert store.last_height() == 0
    assert store.get_state(b"ok") is None
    assert store.load_block(1) is None


def test_longest_key_is_accepted(store: Any) -> None:
    key = b"k" * MAX_KEY_SIZE
    store.save_height(_record(1, {key: b"v"}, {key: b"r"}))
    assert store.get_state(key) == b"v"
    assert store.load_tx_index(key) == b"r"


def test_sign_state_returns_exactly_the_last_saved(store: Any) -> None:
    store.save_sign_state(b"first")
    store.save_sign_state(b"")
    assert store.load_sign_state() == b""
    store.save_sign_state(b"\x00second")
    assert store.load_sign_state() == b"\x00second"
    with pytest.raises(StoreError):
        store.save_sign_state("text")
    assert store.load_sign_state() == b"\x00second"


def test_given_buffers_are_copied(store: Any) -> None:
    value = bytearray(b"value")
    sign = bytearray(b"sign")
    store.save_height(_record(1, {b"k": value}))
    store.save_sign_state(sign)
    value[0] = ord("X")
    sign[0] = ord("X")
    assert store.get_state(b"k") == b"value"
    assert store.load_sign_state() == b"sign"


def test_reopen_keeps_everything(store_and_reopen: tuple[Any, Reopen]) -> None:
    store, reopen = store_and_reopen
    store.save_sign_state(b"ss")
    store.save_height(_record(1, {b"a": b"1", b"b": b"2"}, {b"t1": b"r1"}))
    store.save_height(_record(2, {b"a": None}, {b"t2": b"r2"}))
    again = reopen(store)
    assert again.last_height() == 2
    assert again.load_sign_state() == b"ss"
    assert again.load_commit(2) == b"commit-2"
    assert list(again.iter_state()) == [(b"b", b"2")]
    assert again.load_tx_index(b"t1") == b"r1"
    again.save_height(_record(3))
    assert again.last_height() == 3


def test_closed_store_refuses_use(store: Any) -> None:
    store.save_height(_record(1))
    store.close()
    store.close()
    for call in (
        store.last_height,
        store.load_sign_state,
        lambda: store.load_block(1),
        lambda: store.load_block(99),
        lambda: store.get_state(b"k"),
        lambda: store.get_state(b""),
        lambda: store.load_tx_index(b"t"),
        lambda: store.iter_state(),
        lambda: store.save_sign_state(b"x"),
        lambda: store.save_height(_record(2)),
    ):
        with pytest.raises(StoreClosedError, match="closed"):
            call()


def test_context_manager_closes(store: Any) -> None:
    with store as inside:
        assert inside is store
    with pytest.raises(StoreClosedError):
        store.last_height()


def test_memory_injected_failure_changes_nothing() -> None:
    store = MemoryStore()
    store.save_sign_state(b"old")
    store.inject_failures(2)
    with pytest.raises(StoreError, match="injected"):
        store.save_height(_record(1, {b"k": b"v"}))
    with pytest.raises(StoreError, match="injected"):
        store.save_sign_state(b"new")
    assert store.last_height() == 0
    assert store.get_state(b"k") is None
    assert store.load_sign_state() == b"old"
    store.save_height(_record(1, {b"k": b"v"}))
    assert store.get_state(b"k") == b"v"


def test_memory_snapshot_is_frozen_in_time() -> None:
    store = MemoryStore()
    store.save_height(_record(1, {b"k": b"v"}))
    snap = store.snapshot()
    store.save_height(_record(2, {b"k": b"w"}))
    restored = MemoryStore.restore_from(snap)
    assert restored.last_height() == 1
    assert restored.get_state(b"k") == b"v"
    restored.save_height(_record(2, {b"k": b"x"}))
    assert store.get_state(b"k") == b"w"


def test_iterator_is_a_snapshot_and_does_not_block_writes(store: Any) -> None:
    store.save_height(_record(1, {b"a": b"1", b"b": b"2", b"c": b"3"}))
    it = store.iter_state()
    assert next(it) == (b"a", b"1")
    store.save_height(_record(2, {b"b": None, b"d": b"4"}))
    assert list(it) == [(b"b", b"2"), (b"c", b"3")]
    assert list(store.iter_state()) == [(b"a", b"1"), (b"c", b"3"), (b"d", b"4")]
    abandoned = store.iter_state(b"a")
    assert next(abandoned) == (b"a", b"1")
    del abandoned
    store.save_height(_record(3, {b"a": None}))
    assert store.get_state(b"a") is None


def test_an_index_entry_is_never_overwritten(store: Any) -> None:
    """A tx_id commits once: a height that would index it again is refused whole."""
    store.save_height(_record(1, {b"k": b"1"}, {b"tx-a": b"first"}))
    with pytest.raises(StoreError, match=f"tx_id {b'tx-a'.hex()} is already indexed"):
        store.save_height(_record(2, {b"k": b"2"}, {b"tx-b": b"x", b"tx-a": b"second"}))
    assert store.last_height() == 1
    assert store.load_tx_index(b"tx-a") == b"first"
    assert store.load_tx_index(b"tx-b") is None
    assert store.get_state(b"k") == b"1"
    store.save_height(_record(2, {b"k": b"2"}, {b"tx-b": b"x"}))
    assert store.load_tx_index(b"tx-b") == b"x"


def test_results_are_kept_per_height(store: Any) -> None:
    store.save_height(_record(1))
    store.save_height(_record(2))
    assert [store.load_results(h) for h in (1, 2, 3, 0)] == [b"results-1", b"results-2", None, None]
