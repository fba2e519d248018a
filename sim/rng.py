"""Seeded randomness for one run: a root `random.Random(seed)` and one sub-stream per subsystem.

Every subsystem draws from its own stream, seeded from the root in a fixed order, so switching
one fault class on or off never shifts the draws of the others (VOPR's sub-PRNGs). Nothing in
`sim/` may use the global `random` functions, the wall clock or `os.urandom`.
"""

from __future__ import annotations

import random

SUBSYSTEMS: tuple[str, ...] = (
    "config",
    "network",
    "faults",
    "workload",
    "byzantine",
    "keys",
    "crash",
    "clocks",
    "liveness",
    "disk",
)
"""Sub-streams in the order their seeds are drawn; append new ones at the end only."""


class SeedTree:
    """The root generator of a run and the sub-seeds derived from it."""

    def __init__(self, seed: int) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"a seed is a non-negative integer, got {seed!r}")
        self.seed = seed
        root = random.Random(seed)
        self._subseeds = {name: root.getrandbits(64) for name in SUBSYSTEMS}

    def subseed(self, name: str) -> int:
        return self._subseeds[name]

    def rng(self, name: str) -> random.Random:
        """A fresh generator for subsystem `name` (each call restarts the same stream)."""
        return random.Random(self._subseeds[name])
