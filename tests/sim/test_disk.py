"""The simulated disk: whatever the crash point, what survives is a prefix of whole committed
transactions that includes every durable one; never a torn transaction within the model."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.disk import Op, SimDisk

TABLES = (b"a", b"b")
keys = st.binary(min_size=1, max_size=2)
ops = st.lists(
    st.tuples(st.sampled_from(TABLES), keys, st.one_of(st.none(), st.binary(max_size=3))),
    min_size=1,
    max_size=4,
)
# A write call: its transactions, each (ops, synced).
calls = st.lists(st.tuples(ops, st.booleans()), min_size=1, max_size=3)


def image_after(history: list[list[Op]], count: int) -> dict[bytes, dict[bytes, bytes]]:
    """The tables after the first `count` transactions, replayed from nothing (the reference)."""
    tables: dict[bytes, dict[bytes, bytes]] = {name: {} for name in TABLES}
    for txn in history[:count]:
        for table, key, value in txn:
            if value is None:
                tables[table].pop(key, None)
            else:
                tables[table][key] = value
    return tables


def fresh() -> SimDisk:
    disk = SimDisk()
    for name in TABLES:
        disk.create_table(name)
    return disk


def apply_calls(
    disk: SimDisk, plan: list[list[tuple[list[Op], bool]]], completed: int
) -> tuple[list[list[Op]], int, list[int]]:
    """Run the calls; the first `completed` get their sync back, the next stays in flight.
    Returns every committed transaction, how many were durable for sure, and call ends."""
    history: list[list[Op]] = []
    durable = 0
    ends = [0]
    for index, call in enumerate(plan[: completed + 1]):
        disk.begin_call()
        for txn, synced in call:
            disk.commit(txn, sync=synced)
            history.append(txn)
        waits = disk.end_call()
        ends.append(len(history))
        if index < completed:
            if waits:
                disk.complete_call()
                durable = len(history)  # an fsync flushes everything written before it
            continue
    return history, durable, ends


@settings(max_examples=100)
@given(
    plan=st.lists(calls, min_size=1, max_size=6),
    completed=st.integers(0, 6),
    power=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_a_crash_keeps_a_prefix_of_whole_transactions_with_every_durable_one(
    plan: list[list[tuple[list[Op], bool]]], completed: int, power: bool, seed: int
) -> None:
    disk = fresh()
    history, durable, ends = apply_calls(disk, plan, min(completed, len(plan) - 1))
    in_flight_from = ends[-2] if disk.in_flight else None
    report = disk.crash(random.Random(seed), power=power)

    assert not report.torn
    assert durable <= report.kept <= len(history)
    assert report.kept + report.lost == len(history)
    assert disk.image() == image_after(history, report.kept)
    if not power and in_flight_from is None:
        assert report.kept == len(history), "a process crash loses only the call in flight"
    if not power and in_flight_from is not None:
        assert report.kept >= in_flight_from
    assert report.whole_calls == (report.kept in ends)


def test_a_process_crash_keeps_unsynced_writes_and_a_power_cut_may_lose_them() -> None:
    kept = set()
    for seed in range(40):
        disk = fresh()
        disk.commit([(b"a", b"k", b"synced")], sync=True)  # outside a call: durable at once
        disk.begin_call()
        disk.commit([(b"a", b"k", b"unsynced")], sync=False)
        assert disk.end_call() is False  # returned at once, nothing to wait for
        process = fresh()
        process.commit([(b"a", b"k", b"synced")], sync=True)
        process.begin_call()
        process.commit([(b"a", b"k", b"unsynced")], sync=False)
        process.end_call()
        assert process.crash(random.Random(seed), power=False).kept == 2
        assert process.tables[b"a"] == {b"k": b"unsynced"}
        report = disk.crash(random.Random(seed), power=True)
        kept.add(disk.tables[b"a"][b"k"])
        assert report.kept >= 1
    assert kept == {b"synced", b"unsynced"}


def test_a_completed_sync_makes_earlier_unsynced_writes_durable_too() -> None:
    for seed in range(20):
        disk = fresh()
        disk.begin_call()
        disk.commit([(b"a", b"x", b"1")], sync=False)
        assert disk.end_call() is False
        disk.begin_call()
        disk.commit([(b"b", b"y", b"2")], sync=True)
        assert disk.end_call() is True and disk.in_flight
        disk.complete_call()  # the fsync flushed the whole file
        assert disk.durable == 2
        assert disk.crash(random.Random(seed), power=True).kept == 2


def test_a_lying_disk_loses_synced_writes_and_tears_transactions() -> None:
    torn = lost_synced = 0
    for seed in range(60):
        disk = SimDisk(lying=True)
        for name in TABLES:
            disk.create_table(name)
        for n in range(4):
            disk.begin_call()
            disk.commit([(b"a", bytes([n, k]), b"v") for k in range(4)], sync=True)
            disk.end_call()
            disk.complete_call()  # fsync "returned"
        report = disk.crash(random.Random(seed), power=True)
        torn += report.torn
        lost_synced += report.lost > 0
        if report.torn:
            assert not report.whole_calls
    assert torn > 0 and lost_synced > 0


def test_a_write_call_cut_in_the_middle_is_reported() -> None:
    seen = set()
    for seed in range(30):
        disk = fresh()
        disk.begin_call()
        disk.commit([(b"a", b"data", b"1")], sync=True)
        disk.commit([(b"b", b"pointer", b"1")], sync=True)
        disk.end_call()
        report = disk.crash(random.Random(seed), power=False)
        seen.add((report.kept, report.whole_calls))
    assert seen == {(0, True), (1, False), (2, True)}
