"""Capped exponential backoff with jitter, for redialing peers.

The n-th delay after a failure is drawn uniformly from [c/2, c] where c = min(cap, base * 2**n):
peers that lost each other at the same moment do not all come back in lockstep, and a dead peer
costs at most one dial every `cap_s` seconds. Randomness comes from an injected `random.Random`,
so tests (and the simulator, if it ever wants this) are reproducible from a seed.
"""

from __future__ import annotations

import random


class Backoff:
    """Successive redial delays for one peer; `reset()` after a connection that worked."""

    def __init__(self, rng: random.Random, *, base_s: float = 0.1, cap_s: float = 5.0) -> None:
        if not 0 < base_s <= cap_s:
            raise ValueError("backoff needs 0 < base_s <= cap_s")
        self._rng = rng
        self._base_s = base_s
        self._cap_s = cap_s
        self._failures = 0

    def ceiling_s(self) -> float:
        """The upper bound of the next delay."""
        return min(self._cap_s, self._base_s * 2.0 ** min(self._failures, 62))

    def next_delay_s(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        ceiling = self.ceiling_s()
        self._failures += 1
        return ceiling * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        self._failures = 0
