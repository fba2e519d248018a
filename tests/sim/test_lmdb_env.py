"""The simulated LMDB environment answers the store's calls exactly as py-lmdb does: random
operation sequences run against both, side by side, and every answer and the final contents
agree; and the production `LmdbStore` runs on it unchanged."""

from __future__ import annotations

import random
import tempfile
from typing import Any

import attrs
import lmdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.interfaces import HeightRecord
from ledger.store_keys import StoreFormatError
from sim.disk import SimDisk
from sim.disk_store import SimLmdbStore
from sim.lmdb_env import SimEnvironment

NAMES = (b"one", b"two")
keys = st.binary(min_size=1, max_size=3)
values = st.binary(max_size=4)
operation = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(NAMES), keys, values, st.booleans()),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), keys),
    st.tuples(st.just("get"), st.sampled_from(NAMES), keys),
    st.tuples(
        st.just("putmulti"),
        st.sampled_from(NAMES),
        st.lists(st.tuples(keys, values)),
        st.booleans(),
    ),
    st.tuples(st.just("scan"), st.sampled_from(NAMES), keys),
    st.tuples(st.just("last"), st.sampled_from(NAMES)),
    st.tuples(st.just("stat"), st.sampled_from(NAMES)),
)
# A transaction: its operations, and whether it ends by raising (an abort).
transactions = st.lists(st.tuples(st.lists(operation, max_size=6), st.booleans()), max_size=6)


class Abort(Exception):
    pass


def run_ops(env: Any, dbs: dict[bytes, Any], txn_plan: list[tuple[list[Any], bool]]) -> list[Any]:
    answers: list[Any] = []
    for ops, abort in txn_plan:
        try:
            with env.begin(write=True) as txn:
                for op in ops:
                    answers.append(apply(txn, dbs, op))
                if abort:
                    raise Abort
        except Abort:
            answers.append("aborted")
    with env.begin() as txn:
        for name in NAMES:
            with txn.cursor(db=dbs[name]) as cursor:
                found = cursor.first()
                rows = []
                while found:
                    rows.append((cursor.key(), cursor.value()))
                    found = cursor.next()
                answers.append(rows)
    return answers


def apply(txn: Any, dbs: dict[bytes, Any], op: tuple[Any, ...]) -> Any:
    kind, name = op[0], op[1]
    db = dbs[name]
    if kind == "put":
        return txn.put(op[2], op[3], overwrite=op[4], db=db)
    if kind == "delete":
        return txn.delete(op[2], db=db)
    if kind == "get":
        return txn.get(op[2], db=db)
    if kind == "putmulti":
        with txn.cursor(db=db) as cursor:
            return cursor.putmulti(op[2], overwrite=op[3])
    if kind == "scan":
        with txn.cursor(db=db) as cursor:
            found = cursor.set_range(op[2])
            return [found, cursor.key(), cursor.value()]
    if kind == "last":
        with txn.cursor(db=db) as cursor:
            return [cursor.last(), cursor.key()]
    return txn.stat(db)["entries"]


@settings(max_examples=60)
@given(plan=transactions)
def test_the_simulated_environment_answers_as_lmdb_does(plan: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as where:
        real = lmdb.open(where, max_dbs=4, map_size=1 << 22, sync=False)
        try:
            real_dbs = {name: real.open_db(name) for name in NAMES}
            expected = run_ops(real, real_dbs, plan)
        finally:
            real.close()
    disk = SimDisk()
    env = SimEnvironment(disk)
    sim_dbs = {name: env.open_db(name) for name in NAMES}
    assert run_ops(env, sim_dbs, plan) == expected
    writes = ("put", "putmulti", "delete")
    committing = [ops for ops, abort in plan if not abort and any(o[0] in writes for o in ops)]
    assert disk.committed <= len(committing)  # at most one disk transaction per commit


def test_empty_and_oversized_keys_are_refused_as_lmdb_refuses_them() -> None:
    env = SimEnvironment(SimDisk())
    db = env.open_db(b"t")
    for key in (b"", b"k" * 512):
        with pytest.raises(lmdb.BadValsizeError), env.begin(write=True, db=db) as txn:
            txn.put(key, b"v")
    with pytest.raises(lmdb.NotFoundError):
        env.open_db(b"missing", create=False)


def record(height: int) -> HeightRecord:
    """A height record with empty mappings for the state writes and index, whatever they are
    named (the disk model does not depend on the record's fields)."""
    given = {"height": height, "block": b"block", "commit": b"commit", "app_hash": b"hash"}
    fields = attrs.fields(HeightRecord)
    rest = {f.name: {} for f in fields if f.name not in given and f.default is attrs.NOTHING}
    return HeightRecord(**given, **rest)


def test_the_production_store_runs_on_the_simulated_disk_and_survives_crashes() -> None:
    heights = set()
    for seed in range(16):
        disk = SimDisk()
        store = SimLmdbStore.open_on(disk, "sim://t")
        store.save_sign_state(b"signed")
        for height in (1, 2, 3):
            store.save_height(record(height))
        disk.begin_call()
        store.save_height(record(4))
        assert disk.end_call() and disk.in_flight  # synced: the driver waits for it
        report = disk.crash(random.Random(seed), power=seed % 2 == 0)
        assert report.whole_calls and not report.torn
        reopened = SimLmdbStore.open_on(disk, "sim://t")
        last = reopened.last_height()
        heights.add(last)
        assert reopened.load_sign_state() == b"signed"
        assert [reopened.load_block(h) for h in range(1, last + 1)] == [b"block"] * last
        assert reopened.load_block(last + 1) is None
    assert heights == {3, 4}


def test_the_store_refuses_a_disk_whose_pointer_and_blocks_disagree() -> None:
    disk = SimDisk()
    store = SimLmdbStore.open_on(disk, "sim://t")
    store.save_height(record(1))
    blocks = disk.tables[b"blocks"]
    blocks[(2).to_bytes(8, "big")] = b"a block without its pointer"
    with pytest.raises(StoreFormatError, match="inconsistent: last height 1 but highest block 2"):
        SimLmdbStore.open_on(disk, "sim://t")
