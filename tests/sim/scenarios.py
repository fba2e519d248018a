"""Shared helpers for the simulator's run-level tests."""

from __future__ import annotations

import os
import subprocess

from sim.faults import Fault
from sim.result import RunResult, RunSpec
from sim.runner import Simulation

QUICK: dict[str, object] = {"validators": 4, "safety_ms": 2000}
"""Small runs for the suite: four validators, a two-second safety phase."""


def run(seed: int, *, schedule: tuple[Fault, ...] | None = None, **overrides: object) -> RunResult:
    spec = RunSpec(seed, {**QUICK, **overrides})
    return Simulation(spec, schedule=schedule).run()


def fresh_seeds(count: int) -> list[int]:
    """Seeds that change with every commit yet reproduce from the commit (never random).

    Set DEPOSITNET_SIM_SEEDS=1,2,3 to choose them by hand.
    """
    chosen = os.environ.get("DEPOSITNET_SIM_SEEDS")
    if chosen:
        return [int(s) for s in chosen.split(",")]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        base = int(head[:8], 16)
    except (OSError, subprocess.SubprocessError, ValueError):
        base = 20_240_601
    return [base + 7919 * k for k in range(count)]
