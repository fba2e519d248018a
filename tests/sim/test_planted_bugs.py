"""Proof that the simulator finds bugs: each planted bug is detected within a bounded number of
seeds, and the very same seeds with no bug planted raise no alarm.

The short form (CI) runs the seeds of each hunt's bound; DEPOSITNET_SOAK=1 runs a longer range.
Each hunt uses a fault profile chosen for the bug (as a researcher would); profiles and bounds
are in `sim.hunts.HUNTS`, the bug list in `sim.config.BUGS`. `bench/sim_bugs.py` reports the
seeds and the time each hunt takes.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable

import pytest

from consensus import signing
from consensus.core import KNOWN_BUGS, ConsensusCore
from consensus.replica import inbound
from consensus.rules import Rules
from sim.catch import first_catch, run_default
from sim.config import BUGS, STRATEGIES
from sim.hunts import HUNTS, detects, run
from sim.planted import BY_NAME, CATALOGUE, core_flags
from sim.result import Outcome, RunResult
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


# Adversary bugs (issue 13, class 2): how each is caught on the default swarm seeds, where
# `python bench/sim_bugs.py --class adversary` finds the first (0 to 11 today).
ADVERSARY_CATCH: dict[str, tuple[Outcome, str]] = {
    "line28_without_polka": (Outcome.SAFETY, "no polka for it there (line 28)"),
    "line28_polka_any_value": (Outcome.SAFETY, "no polka for it there (line 28)"),
    "proposer_unchecked": (Outcome.SAFETY, "never proposed"),
    "catchup_ignores_power": (Outcome.SAFETY, "not more than 2/3"),
    "catchup_ignores_block": (Outcome.SAFETY, "invalid precommit"),
    "chain_id_not_signed": (Outcome.ACCOUNTABILITY, "correct validator(s) convicted"),
    "previous_height_admitted": (Outcome.ACCOUNTABILITY, "correct validator(s) convicted"),
}
DEFAULT_SEEDS = range(40)
"""The bound: each adversary bug is caught, the expected way, on one of these default seeds."""


def test_every_adversary_bug_has_a_detecting_seed_and_a_strategy() -> None:
    adversary = {bug.name for bug in CATALOGUE if bug.klass == "adversary"}
    assert adversary == set(ADVERSARY_CATCH)
    for name in adversary:
        strategy = BY_NAME[name].summary.split(":")[0]
        assert strategy in STRATEGIES, name


def caught_as_expected(bug: str) -> Callable[[RunResult], bool]:
    """Whether a planted run failed the way `ADVERSARY_CATCH` says `bug` is caught."""
    outcome, reason = ADVERSARY_CATCH[bug]
    return lambda result: result.outcome is outcome and reason in result.reason


@pytest.mark.parametrize("bug", sorted(ADVERSARY_CATCH))
def test_each_adversary_bug_is_caught_on_a_default_seed_the_clean_build_passes(bug: str) -> None:
    outcome, reason = ADVERSARY_CATCH[bug]
    catch = first_catch(bug, DEFAULT_SEEDS, accept=caught_as_expected(bug), run=_cached)
    assert catch is not None, (
        f"{bug} not caught as {outcome.value} ({reason!r}) with the clean build passing, on"
        f" default seeds {DEFAULT_SEEDS.start}..{DEFAULT_SEEDS.stop - 1}"
    )


@functools.cache
def _cached(seed: int, bugs: tuple[str, ...]) -> RunResult:
    """Several bugs share a seed's clean run."""
    return run_default(seed, bugs)


def test_a_planted_patch_is_gone_when_its_run_ends() -> None:
    originals = {
        "line28_without_polka": (Rules, "_on_proposal_rules"),
        "proposer_unchecked": (ConsensusCore, "_on_proposal"),
        "catchup_ignores_power": (inbound, "verify_commit"),
        "previous_height_admitted": (ConsensusCore, "_on_vote"),
    }
    before = {name: getattr(owner, attr) for name, (owner, attr) in originals.items()}
    code = signing.vote_sign_bytes.__code__
    for name in ADVERSARY_CATCH:
        with BY_NAME[name].plant():
            pass
    assert {name: getattr(owner, attr) for name, (owner, attr) in originals.items()} == before
    assert signing.vote_sign_bytes.__code__ is code
