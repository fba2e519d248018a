"""Proof that the simulator finds bugs: each planted bug is detected within a bounded number of
seeds, and the very same seeds with no bug planted raise no alarm.

The short form (CI) runs the first seeds of each hunt; DEPOSITNET_SOAK=1 runs a longer range.
Each hunt uses a fault profile chosen for the bug (as a researcher would); the bug list is in
`sim.config.BUGS`.
"""

from __future__ import annotations

import os
import random

import pytest

from consensus.core import KNOWN_BUGS
from sim.config import BUGS
from sim.result import Outcome, RunSpec
from sim.runner import Simulation
from sim.stack import build_world, new_store, open_replica
from sim.swarm import derive_config

CALM = {"validators": 4, "byzantine": (), "twins": (), "tx_per_s": 0}
LOSSY = {
    **CALM,
    "faults": ("loss", "partition", "filter"),
    "loss": 0.35,
    "fault_interval_ms": 400,
    "safety_ms": 4000,
}

# bug -> (profile, seeds to try, outcomes that count as detection)
HUNTS: dict[str, tuple[dict[str, object], range, set[Outcome]]] = {
    "send_before_persist": ({**CALM, "safety_ms": 2000}, range(0, 3), {Outcome.SAFETY}),
    "double_count_vote": (
        {**CALM, "safety_ms": 2000},
        range(0, 3),
        {Outcome.CRASH, Outcome.SAFETY},
    ),
    "skip_valid_update_line36": (
        {**CALM, "safety_ms": 2000},
        range(0, 3),
        {Outcome.CRASH, Outcome.SAFETY, Outcome.LIVENESS},
    ),
    "no_lock_check_line22": (LOSSY, range(10, 20), {Outcome.SAFETY, Outcome.ACCOUNTABILITY}),
}
SOAK = os.environ.get("DEPOSITNET_SOAK") == "1"


def _run(seed: int, profile: dict[str, object], bugs: tuple[str, ...]) -> Outcome:
    return Simulation(RunSpec(seed, {**profile, "bugs": bugs})).run().outcome


@pytest.mark.parametrize("bug", sorted(HUNTS))
def test_each_planted_bug_is_found_within_a_bounded_number_of_seeds(bug: str) -> None:
    profile, seeds, detected = HUNTS[bug]
    if SOAK:
        seeds = range(seeds.start, seeds.start + 5 * len(seeds))
    for seed in seeds:
        outcome = _run(seed, profile, (bug,))
        if outcome in detected:
            # The clean build, same seed and profile: no alarm.
            assert _run(seed, profile, ()) is Outcome.PASS
            return
    pytest.fail(f"{bug} not detected within {len(seeds)} seeds ({seeds.start}..{seeds.stop - 1})")


@pytest.mark.slow
def test_clean_builds_raise_no_alarm_on_the_hunting_profiles() -> None:
    seeds_per_profile = 10 if SOAK else 2
    for profile, seeds, _ in HUNTS.values():
        for seed in list(seeds)[:seeds_per_profile]:
            assert _run(seed, profile, ()) is Outcome.PASS, (seed, profile)


def test_planted_bugs_reach_the_core_through_the_replica_config() -> None:
    assert set(BUGS) == KNOWN_BUGS
    for bugs in ((), ("no_lock_check_line22", "send_before_persist")):
        world = build_world(derive_config(1, {"bugs": bugs}), random.Random(1))
        assert world.replica_config.bugs == frozenset(bugs)
        replica = open_replica(world, world.signers[0], new_store())
        assert replica.core.bugs == frozenset(bugs)
