"""What a run looked like over time, kept small enough to draw: per instance, the (height,
round) it was at, when it committed, when it was down; the fault intervals; the heal point.

Samples are kept only when an instance's (height, round) changes, and capped, so a long run
still yields a page a browser opens quickly.
"""

from __future__ import annotations

import attrs

from sim.faults import Fault

MAX_SAMPLES = 20_000


@attrs.define
class Timeline:
    samples: dict[int, list[tuple[int, int, int]]] = attrs.field(factory=dict)  # t, h, r
    commits: dict[int, list[tuple[int, int]]] = attrs.field(factory=dict)  # t, h
    outages: dict[int, list[list[int]]] = attrs.field(factory=dict)  # [start, end or -1]
    faults: list[Fault] = attrs.field(factory=list)
    heal_ms: int | None = None
    violation_ms: int | None = None
    violation_reason: str = ""
    _total: int = 0

    def sample(self, t: int, instance: int, height: int, round_: int) -> None:
        rows = self.samples.get(instance)
        if rows is None:
            rows = self.samples[instance] = []
        elif rows and rows[-1][1] == height and rows[-1][2] == round_:
            return
        if self._total >= MAX_SAMPLES:
            return
        self._total += 1
        rows.append((t, height, round_))

    def commit(self, t: int, instance: int, height: int) -> None:
        rows = self.commits.setdefault(instance, [])
        if len(rows) < MAX_SAMPLES:
            rows.append((t, height))

    def fault(self, fault: Fault) -> None:
        self.faults.append(fault)

    def down(self, t: int, instance: int) -> None:
        self.outages.setdefault(instance, []).append([t, -1])

    def up(self, t: int, instance: int) -> None:
        intervals = self.outages.setdefault(instance, [])
        if intervals and intervals[-1][1] == -1:
            intervals[-1][1] = t

    def heal(self, t: int) -> None:
        self.heal_ms = t

    def violation(self, t: int, reason: str) -> None:
        self.violation_ms = t
        self.violation_reason = reason
