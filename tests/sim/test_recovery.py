"""Recovery rules: a good store after a crash is accepted; each way a store can be broken is
flagged, by the simulator's rules or by the production store refusing to open."""

from __future__ import annotations

import functools
import random

import attrs
import pytest

from consensus.codec import encode_sign_state
from consensus.messages import SignedRecord, SignState, Step, Vote, VoteType
from consensus.replica.replica import Replica
from sim.disk import CrashReport, SimDisk
from sim.disk_store import SimLmdbStore
from sim.node import REFUSALS
from sim.recovery import RecoveryChecker
from sim.result import Outcome, RunSpec
from sim.runner import Simulation
from sim.stack import build_world, open_replica
from sim.swarm import derive_config
from tests.sim.scenarios import QUICK
from tests.sim.test_lmdb_env import record

WHOLE = CrashReport(power=True, kept=3, lost=1, torn=False, whole_calls=True)


def sign_state(height: int, round_: int, step: Step) -> bytes:
    signed = SignedRecord(height, round_, step, b"bytes", b"s" * 64)
    return encode_sign_state(SignState(height, round_, step, last_signed=signed))


def prevote(height: int, round_: int) -> Vote:
    return Vote(VoteType.PREVOTE, height, round_, None, b"v" * 32, b"sig")


def store_with(heights: int, state: bytes) -> SimLmdbStore:
    """A store of `heights` synthetic heights (their blocks do not decode)."""
    store = SimLmdbStore.open_on(SimDisk(), "sim://t")
    store.save_sign_state(state)
    for height in range(1, heights + 1):
        store.save_height(record(height))
    return store


@functools.cache
def _run() -> Simulation:
    sim = Simulation(RunSpec(1, {**QUICK, "faults": (), "byzantine": (), "twins": ()}))
    assert sim.run().outcome is Outcome.PASS
    return sim


def real_store() -> tuple[SimLmdbStore, Simulation]:
    """A copy of a real validator's store after a clean run (real blocks and commits)."""
    sim = _run()
    source = sim.nodes[0].disk
    assert source is not None
    disk = SimDisk()
    disk.tables = {name: dict(rows) for name, rows in source.tables.items()}
    disk.committed = disk.durable = source.committed
    return SimLmdbStore.open_on(disk, "sim://copy"), sim


def check(store: SimLmdbStore, checker: RecoveryChecker, **overrides: object) -> list[str]:
    crash = overrides.pop("crash", WHOLE)
    options: dict[str, object] = {"durable_height": 0, "decided": {}, "app_hashes": {}}
    options.update(overrides)
    return checker.check(0, store, crash, **options)  # type: ignore[arg-type]


def test_a_store_that_covers_what_left_the_process_is_accepted() -> None:
    store, sim = real_store()
    last = store.last_height()
    assert last >= 2
    checker = RecoveryChecker()
    checker.on_sent(0, prevote(last + 1, 0))
    store.save_sign_state(sign_state(last + 1, 0, Step.PREVOTE))
    good = {"durable_height": last, "app_hashes": sim.checker.app_hashes}
    assert check(store, checker, decided=sim.checker.decided, **good) == []


def test_a_sign_state_older_than_a_signature_that_left_is_flagged() -> None:
    store, _ = real_store()
    last = store.last_height()
    checker = RecoveryChecker()
    checker.on_sent(0, prevote(last + 1, 1))
    checker.on_sent(0, prevote(last, 0))  # older messages do not lower the mark
    store.save_sign_state(sign_state(last + 1, 0, Step.PRECOMMIT))
    problems = check(store, checker)
    assert len(problems) == 1 and problems[0].startswith("R2: the sign state covers")


def test_a_lost_durable_height_and_parts_of_heights_are_flagged() -> None:
    checker = RecoveryChecker()
    store, _ = real_store()
    last = store.last_height()
    assert check(store, checker, durable_height=last + 1)[0] == (
        f"R1: height {last + 1} was durable before the crash; the store reopened at {last}"
    )
    del store.disk.tables[b"commits"][(1).to_bytes(8, "big")]
    assert check(store, checker) == [f"R1: the store at height {last} lacks part of height 1"]
    store, _ = real_store()
    store.disk.tables[b"blocks"][(last + 1).to_bytes(8, "big")] = b"block"
    assert check(store, checker) == [
        f"R1: the store at height {last} holds data of height {last + 1}"
    ]


def test_a_split_write_is_flagged() -> None:
    store = store_with(0, sign_state(1, 0, Step.PROPOSE))
    split = attrs.evolve(WHOLE, whole_calls=False)
    assert check(store, RecoveryChecker(), crash=split)[0].startswith("R0: the store holds part")


def test_a_block_other_than_the_decided_one_or_another_app_hash_is_flagged() -> None:
    store, sim = real_store()
    last = store.last_height()
    other = {**sim.checker.decided, last: b"x" * 32}
    assert check(store, RecoveryChecker(), decided=other) == [
        f"R1: block {last} in the store is not the block decided at {last}"
    ]
    hashes = {**sim.checker.app_hashes, last: b"y" * 32}
    assert check(store, RecoveryChecker(), app_hashes=hashes) == [
        f"R1: the app hash of height {last} is not the one validators reported"
    ]
    garbled = store_with(1, sign_state(2, 0, Step.PROPOSE))  # its block does not decode
    assert "does not decode" in check(garbled, RecoveryChecker())[0]


def test_the_production_store_and_replica_refuse_what_they_cannot_resume() -> None:
    world = build_world(derive_config(2, {"validators": 4}), random.Random(2))
    disk = SimDisk()
    store = SimLmdbStore.open_on(disk, "sim://r")
    Replica.initialize_store(store)
    store.save_sign_state(sign_state(4, 0, Step.PREVOTE))  # two heights ahead of the store
    with pytest.raises(REFUSALS, match="sign state at height 4 but only 0 heights committed"):
        open_replica(world, world.signers[0], store)
    empty = SimLmdbStore.open_on(SimDisk(), "sim://e")  # a store that lost its sign state
    with pytest.raises(REFUSALS, match="no sign state"):
        open_replica(world, world.signers[0], empty)


def test_a_lying_disk_leaves_stores_the_rules_or_the_store_refuse() -> None:
    """Beyond the model: fsync returns before anything is durable. Whatever a power cut then
    leaves, the store refuses to open or the recovery rules flag it; never a silent restart."""
    outcomes = set()
    for seed in range(40):
        checker = RecoveryChecker()
        disk = SimDisk(lying=True)
        store = SimLmdbStore.open_on(disk, "sim://l")
        for height in range(1, 5):
            for step in (Step.PROPOSE, Step.PREVOTE, Step.PRECOMMIT):
                disk.begin_call()
                store.save_sign_state(sign_state(height, 0, step))
                disk.end_call()
                disk.complete_call()
                if step is Step.PREVOTE:
                    checker.on_sent(0, prevote(height, 0))
            disk.begin_call()
            store.save_height(record(height))
            disk.end_call()
            disk.complete_call()
        report = disk.crash(random.Random(seed), power=True)
        try:
            reopened = SimLmdbStore.open_on(disk, "sim://l")
        except REFUSALS:
            outcomes.add("refused")
            continue
        problems = checker.check(0, reopened, report, durable_height=4, decided={}, app_hashes={})
        outcomes.add("flagged" if problems else "intact")
        if report.lost:
            assert problems, report
    assert "flagged" in outcomes
