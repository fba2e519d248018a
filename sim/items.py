"""The things that can happen at a virtual instant: the items of the run's event queue."""

from __future__ import annotations

from typing import NamedTuple

import attrs

from consensus.messages import Step
from consensus.replica.events import ConsensusTimer, ReplicaTimer, Timer
from sim.faults import Fault

STEP_NAMES: dict[Step, str] = {step: step.name.lower() for step in Step}
"""Trace names of the steps (an Enum's `name` is a slow property; traces ask on every event)."""


class Arrival(NamedTuple):
    """A message reaches instance `dst` from instance `src`.

    Arrivals and alarms are most of a run's items, so they are named tuples (immutable, and
    built at a fraction of a frozen attrs class's cost); the queue never compares items."""

    dst: int
    src: int
    payload: bytes


class Alarm(NamedTuple):
    """A timer set by incarnation `generation` of instance `dst` fires."""

    dst: int
    generation: int
    timer: Timer


@attrs.frozen(slots=True)
class Synced:
    """The sync of durable write `ticket` of incarnation `generation` of instance `dst` returns."""

    dst: int
    generation: int
    ticket: int


@attrs.frozen(slots=True)
class Edge:
    """A scheduled fault starts or ends."""

    fault: Fault
    starting: bool


@attrs.frozen(slots=True)
class Submit:
    """A client submits the workload's next transaction."""


@attrs.frozen(slots=True)
class Heal:
    """The safety phase ends: heal the core and start the liveness phase."""


Item = Arrival | Alarm | Synced | Edge | Submit | Heal


def timer_name(timer: object) -> str:
    if isinstance(timer, ConsensusTimer):
        return f"{STEP_NAMES[timer.step]} h={timer.height} r={timer.round}"
    if isinstance(timer, ReplicaTimer):
        return timer.name
    return repr(timer)
