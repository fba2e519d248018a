"""Shrinking: a failing run made smaller while it still fails the same way.

A run is its seed, its overrides and the faults it keeps, so a smaller reproduction is found by
re-running with less: delta debugging over the fault schedule (drop halves, quarters, ...,
single faults), then turning whole features off one at a time (each Byzantine validator, twins,
message loss, duplication, reordering, clock skew, the client workload), then halving the
safety phase (fewer heights and rounds). Voting powers are pinned first so that removing a
Byzantine validator does not reshuffle them. A candidate is kept only if it fails with the
same outcome. Every step is a full, deterministic run, so the result reproduces by its line.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.faults import build_schedule
from sim.result import RunResult, RunSpec
from sim.runner import Simulation
from sim.swarm import derive_config


class NothingToShrink(ValueError):
    """The run passes, so there is no failure to minimise."""


def shrink(
    spec: RunSpec,
    *,
    max_runs: int = 100,
    on_try: Callable[[RunSpec, RunResult, bool], None] | None = None,
) -> tuple[RunSpec, RunResult]:
    """The smallest failing variant of `spec` found within `max_runs` runs, and its result."""
    best = Simulation(spec).run()
    if not best.outcome.failed:
        raise NothingToShrink(f"seed {spec.seed} passes; nothing to shrink")
    config = derive_config(spec.seed, spec.overrides)
    overrides = dict(spec.overrides)
    overrides.setdefault("powers", config.powers)
    overrides.setdefault("power_profile", config.power_profile)
    keep = spec.keep_faults
    if keep is None:
        keep = tuple(f.index for f in build_schedule(config))
    current = RunSpec(spec.seed, overrides, keep)
    runs = 0

    def attempt(candidate: RunSpec) -> bool:
        nonlocal best, current, runs
        if runs >= max_runs:
            return False
        runs += 1
        result = Simulation(candidate).run()
        still = result.outcome is best.outcome
        if on_try is not None:
            on_try(candidate, result, still)
        if still:
            best, current = result, candidate
        return still

    _ddmin_faults(current, attempt, lambda: current)
    for key, value in _feature_switches(current):
        attempt(RunSpec(current.seed, {**current.overrides, key: value}, current.keep_faults))
    while True:
        safety = derive_config(current.seed, current.overrides).safety_ms
        if safety < 500 or not attempt(
            RunSpec(
                current.seed, {**current.overrides, "safety_ms": safety // 2}, current.keep_faults
            )
        ):
            break
    return current, best


def _ddmin_faults(
    start: RunSpec, attempt: Callable[[RunSpec], bool], now: Callable[[], RunSpec]
) -> None:
    chunks = 2
    while True:
        keep = now().keep_faults or ()
        if not keep:
            return
        size = max(1, len(keep) // chunks)
        removed_any = False
        for first in range(0, len(keep), size):
            spec = now()
            current = spec.keep_faults or ()
            drop = set(keep[first : first + size])
            candidate = tuple(i for i in current if i not in drop)
            if candidate != current and attempt(RunSpec(spec.seed, spec.overrides, candidate)):
                removed_any = True
        if not removed_any:
            if size == 1:
                return
            chunks *= 2
        _ = start


def _feature_switches(spec: RunSpec) -> list[tuple[str, object]]:
    config = derive_config(spec.seed, spec.overrides)
    switches: list[tuple[str, object]] = []
    for index, _strategy in config.byzantine:
        rest = tuple(entry for entry in config.byzantine if entry[0] != index)
        switches.append(("byzantine", rest))
    if config.twins:
        switches.append(("twins", ()))
    for key in ("loss", "duplicate", "reorder"):
        if getattr(config, key):
            switches.append((key, 0.0))
    if config.clock_offset_max_ms or config.clock_drift_max_ppm:
        switches.append(("clock_offset_max_ms", 0))
        switches.append(("clock_drift_max_ppm", 0))
    if config.tx_per_s:
        switches.append(("tx_per_s", 0))
    return switches
