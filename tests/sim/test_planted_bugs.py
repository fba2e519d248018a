"""Proof that the simulator finds bugs: each planted bug is detected within a bounded number of
seeds, and the very same seeds with no bug planted raise no alarm.

The short form (CI) runs the seeds of each hunt's bound; DEPOSITNET_SOAK=1 runs a longer range.
Each hunt uses a fault profile chosen for the bug (as a researcher would); profiles and bounds
are in `sim.hunts.HUNTS`, the bug list in `sim.config.BUGS`. `bench/sim_bugs.py` reports the
seeds and the time each hunt takes.
"""

from __future__ import annotations

import os
import random

import pytest

from consensus.core import KNOWN_BUGS
from sim.config import BUGS
from sim.hunts import HUNTS, detects, run
from sim.planted import core_flags
from sim.result import Outcome
from sim.stack import build_world, new_store, open_replica
from sim.swarm import derive_config

SOAK = os.environ.get("DEPOSITNET_SOAK") == "1"


def test_every_core_bug_has_a_hunt() -> None:
    assert set(HUNTS) == core_flags(BUGS) == KNOWN_BUGS


@pytest.mark.parametrize("bug", sorted(HUNTS))
def test_each_planted_bug_is_found_within_a_bounded_number_of_seeds(bug: str) -> None:
    hunt = HUNTS[bug]
    seeds = hunt.seeds
    if SOAK:
        seeds = range(seeds.start, seeds.start + 5 * len(seeds))
    for seed in seeds:
        if detects(bug, seed) is not None:
            # The clean build, same seed and profile: no alarm.
            clean = run(seed, hunt.profile)
            assert clean.outcome is Outcome.PASS, clean.summary_line()
            return
    pytest.fail(f"{bug} not detected within {len(seeds)} seeds ({seeds.start}..{seeds.stop - 1})")


@pytest.mark.slow
def test_clean_builds_raise_no_alarm_on_the_hunting_profiles() -> None:
    seeds_per_profile = 10 if SOAK else 2
    for hunt in HUNTS.values():
        for seed in list(hunt.seeds)[:seeds_per_profile]:
            result = run(seed, hunt.profile)
            assert result.outcome is Outcome.PASS, result.summary_line()


def test_planted_bugs_reach_the_core_through_the_replica_config() -> None:
    for bugs in ((), ("no_lock_check_line22", "send_before_persist")):
        world = build_world(derive_config(1, {"bugs": bugs}), random.Random(1))
        assert world.replica_config.bugs == frozenset(bugs)
        replica = open_replica(world, world.signers[0], new_store())
        assert replica.core.bugs == frozenset(bugs)
