"""Bug hunts: for each planted core bug, the fault profile a sweep uses to find it, and a bound.

A simulator earns trust by catching planted bugs (REFERENCES.md, "Simulator"): each hunt names
a profile (overrides on top of the seed-derived configuration), the seed range within which a
sweep must detect the bug, and the outcomes that count as detection. The same seeds with no bug
planted must pass. The planted-bug tests and `bench/sim_bugs.py` both read this table.

Why each profile reaches its bug:
- send_before_persist, double_count_vote, skip_valid_update_line36: any calm run signs, counts
  votes and sees polkas, so the checkers see the bug at once.
- no_lock_check_line22 and repropose_locked_value need heights of several rounds in which
  validators lock and then see later polkas: a locked validator that prevotes a fresh proposal
  violates its lock; a proposer locked on v (round r) whose validValue moved on (a later polka
  it saw only after precommitting nil) re-proposes the wrong value. `LATE` makes messages
  arrive about as late as the timeouts (90 ms propose, 5 ms prevote; links take 10 ms plus an
  exponential delay of mean 60 ms, and half the messages up to ten times that more): nodes
  prevote nil, precommit nil before a polka completes, and go through several rounds per
  height, so both states are common.
"""

from __future__ import annotations

import attrs

from sim.result import Outcome, RunResult, RunSpec
from sim.runner import Simulation

CALM: dict[str, object] = {"validators": 4, "byzantine": (), "twins": (), "tx_per_s": 0}
LATE: dict[str, object] = {
    **CALM,
    "power_profile": "equal",
    "faults": ("reorder",),
    "reorder": 0.5,
    "latency_min_ms": 10,
    "latency_mean_ms": 60,
    "timeout_propose_ms": 90,
    "timeout_propose_delta_ms": 10,
    "timeout_prevote_ms": 5,
    "timeout_prevote_delta_ms": 5,
    "timeout_precommit_ms": 20,
    "timeout_precommit_delta_ms": 10,
    "safety_ms": 3000,
    "disk_sync_ms": 1,  # syncs well inside the 5 ms prevote timeout, so the timing above holds
}
"""Messages about as late as the timeouts: many rounds per height, locks and validValues apart."""


@attrs.frozen
class Hunt:
    profile: dict[str, object]
    seeds: range  # a sweep over these must detect the bug
    detected: frozenset[Outcome]  # outcomes that count as detection


HUNTS: dict[str, Hunt] = {
    "send_before_persist": Hunt(
        {**CALM, "safety_ms": 2000}, range(0, 3), frozenset({Outcome.SAFETY})
    ),
    "double_count_vote": Hunt(
        {**CALM, "safety_ms": 2000}, range(0, 3), frozenset({Outcome.CRASH, Outcome.SAFETY})
    ),
    "skip_valid_update_line36": Hunt(
        {**CALM, "safety_ms": 2000},
        range(0, 3),
        frozenset({Outcome.CRASH, Outcome.SAFETY, Outcome.LIVENESS}),
    ),
    "no_lock_check_line22": Hunt(
        LATE, range(0, 10), frozenset({Outcome.SAFETY, Outcome.ACCOUNTABILITY})
    ),
    "repropose_locked_value": Hunt(LATE, range(0, 10), frozenset({Outcome.SAFETY})),
}


def run(seed: int, profile: dict[str, object], bugs: tuple[str, ...] = ()) -> RunResult:
    return Simulation(RunSpec(seed, {**profile, "bugs": bugs})).run()


def detects(bug: str, seed: int) -> RunResult | None:
    """The run of `seed` on the bug's profile with the bug planted, if it detected the bug."""
    spec = HUNTS[bug]
    result = run(seed, spec.profile, (bug,))
    return result if result.outcome in spec.detected else None
