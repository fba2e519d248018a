"""The liveness phase, VOPR style: heal a core, stop all new faults, demand progress.

At the heal point every network fault ends and every rate drops to zero; paused instances
resume; crashed core instances restart. The core is a set of correct validators holding more
than 2/3 of the power (some correct validators may be left out, and stay as they are). Every
core instance must then commit `liveness_heights` heights beyond the highest height any
correct instance had committed at the heal, within `liveness_ms` of virtual time.

When it does not, the stall is classified before anyone calls it a bug:
- beyond the fault budget: faulty validators hold 1/3 of the power or more (nothing promised);
- no quorum: the core does not hold more than 2/3 of the power;
- missing data: a stuck instance needs a block that no core instance holds;
anything else is a liveness failure.
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


def classify_stall(config: SimConfig, core: Core, missing: list[str]) -> str | None:
    """Why the core may legitimately be stuck, or None if nothing explains it.

    `missing`: descriptions of blocks a stuck core instance is locked on (or holds as its valid
    value) that no core instance holds since its last start: lost data, not a protocol bug.
    """
    if not config.within_budget:
        return "beyond the fault budget (faulty power >= 1/3)"
    if not core.quorum:
        return "no quorum: the core holds at most 2/3 of the power"
    if missing:
        return "missing data: " + "; ".join(missing)
    return None
