"""Outcomes of a run, their exit codes, and the one line that reproduces a run.

Outcomes are distinct so that a sweep can count them and a script can branch on them:
a safety violation (two correct validators disagree, a bad certificate, a correct validator
double-signs ...), a liveness failure (a healed core did not make progress and nothing in the
configuration explains it), an accountability failure (agreement broke but the evidence held by
correct validators does not convict more than 1/3 of the power, or convicts a correct one), or
a crash (the replica raised, e.g. one of its own invariant assertions).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from sim.config import format_overrides


class Outcome(enum.Enum):
    PASS = "pass"
    SAFETY = "safety violation"
    LIVENESS = "liveness failure"
    ACCOUNTABILITY = "accountability failure"
    CRASH = "crash"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self]

    @property
    def failed(self) -> bool:
        return self is not Outcome.PASS


EXIT_CODES: dict[Outcome, int] = {
    Outcome.PASS: 0,
    Outcome.SAFETY: 3,
    Outcome.LIVENESS: 4,
    Outcome.ACCOUNTABILITY: 5,
    Outcome.CRASH: 6,
}
"""0 pass; 2 is the CLI's usage error; 3..6 one per failure kind."""


@attrs.frozen
class RunSpec:
    """What a run is: its seed, the overrides on top of the derived configuration, and (after
    shrinking) which faults of the derived schedule to keep."""

    seed: int
    overrides: Mapping[str, object] = attrs.field(factory=dict)
    keep_faults: tuple[int, ...] | None = None

    def command(self) -> str:
        """The one line that reproduces this run."""
        parts = ["depositnet sim run", f"--seed {self.seed}"]
        parts += [f"--set {pair}" for pair in format_overrides(self.overrides)]
        if self.keep_faults is not None:
            parts.append(f"--keep-faults {','.join(map(str, self.keep_faults)) or 'none'}")
        return " ".join(parts)


@attrs.frozen
class RunResult:
    """The summary of one run (picklable, so sweeps can send it between processes)."""

    spec: RunSpec
    outcome: Outcome
    reason: str
    heights: tuple[int, ...]  # last committed height per validator instance
    events: int
    virtual_ms: int
    wall_s: float
    faults: Mapping[str, int]  # faults injected per class (scheduled, crashes, drops ...)
    digest: str
    notes: tuple[str, ...] = ()  # expected but remarkable outcomes (e.g. an accountable fork)
    liveness: str = ""  # how the liveness phase ended (or why it was not asserted)

    @property
    def min_height(self) -> int:
        return min(self.heights) if self.heights else 0

    @property
    def max_height(self) -> int:
        return max(self.heights) if self.heights else 0

    def summary_line(self) -> str:
        line = (
            f"seed {self.spec.seed}: {self.outcome.value}; heights {self.min_height}..."
            f"{self.max_height}; {self.events} events; {self.virtual_ms} virtual ms"
        )
        if self.outcome.failed:
            line += f"; {self.reason}\n  reproduce: {self.spec.command()}"
        return line
