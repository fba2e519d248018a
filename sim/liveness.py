"""The liveness phase, VOPR style: heal a core, stop all new faults, demand progress.

At the heal point every network fault ends and every rate drops to zero; paused instances
resume; crashed core instances restart; clocks stop drifting (they keep the offset they have);
pending crashes are cancelled and no scheduled fault starts any more. The core is a set of
correct validators holding more than 2/3 of the power (some correct validators may be left
out, and stay as they are). Every core instance must then commit `liveness_heights` heights
beyond the highest height any correct instance had committed at the heal, within
`liveness_ms` of virtual time. That no fault happened after the heal is itself checked
(`FaultCounters`): a liveness verdict over a still-faulty network would be a false alarm.

When the core stalls, only an excuse *proven from the configuration* passes the run:
- beyond the fault budget: faulty validators hold 1/3 of the power or more (nothing promised);
- no quorum: the core does not hold more than 2/3 of the power.
Anything else is a liveness failure, printed with the evidence of where each stuck instance
is (height, round, step, lock and valid value, and which instances hold their blocks).

"Missing data" (a stuck instance locked on a block no core instance holds) used to be an
excuse, and hid a real bug (sim seed 108): a crash lost the block of a lock held in memory
only. Within the model it can no longer happen legitimately: a correct validator keeps its
lock's polka and its own votes in its sign state (consensus/core.py) and the blocks beside it
(consensus/replica/kept.py); any 2f+1 precommits or polka for a block include correct core
validators, who hold it. So a core locked on data nobody holds is the product's bug, never
an excuse; the diagnosis says so.
"""

from __future__ import annotations

import random

import attrs

from sim.config import SimConfig


@attrs.frozen
class Core:
    validators: tuple[int, ...]  # validator indices in the core
    power: int
    total_power: int

    @property
    def quorum(self) -> bool:
        return 3 * self.power > 2 * self.total_power


def choose_core(config: SimConfig, rng: random.Random) -> Core:
    """All correct validators, minus a random few while the rest keeps more than 2/3."""
    faulty = set(config.faulty)
    members = [i for i in range(config.validators) if i not in faulty]
    total = config.total_power
    order = list(members)
    rng.shuffle(order)
    power = sum(config.powers[i] for i in members)
    for index in order:
        rest = power - config.powers[index]
        if rng.random() < 0.25 and 3 * rest > 2 * total:
            members.remove(index)
            power = rest
    return Core(tuple(sorted(members)), power, total)


def proven_excuse(config: SimConfig, core: Core) -> str | None:
    """Why the core may legitimately be stuck, proven from the configuration; None if nothing
    excuses a stall (then it is a liveness failure)."""
    if not config.within_budget:
        return (
            f"beyond the fault budget (faulty power {config.faulty_power}/"
            f"{config.total_power} >= 1/3)"
        )
    if not core.quorum:
        return f"no quorum: the core holds {core.power}/{core.total_power} <= 2/3 of the power"
    return None


@attrs.frozen
class FaultCounters:
    """Everything that counts a fault; none may move after the heal."""

    dropped: int  # loss, partition, filter
    duplicated: int
    clogged: int
    crashes: int
    paused: int  # instances paused now

    def moved_since(self, before: FaultCounters) -> list[str]:
        return [
            f"{field.name} {getattr(before, field.name)} -> {getattr(self, field.name)}"
            for field in attrs.fields(FaultCounters)
            if getattr(self, field.name) > getattr(before, field.name)
        ]
