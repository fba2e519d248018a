"""The things that can happen at a virtual instant: the items of the run's event queue."""

from __future__ import annotations

import attrs

from consensus.replica.events import ConsensusTimer, ReplicaTimer, Timer
from sim.faults import Fault


@attrs.frozen(slots=True)
class Arrival:
    """A message reaches instance `dst` from instance `src`."""

    dst: int
    src: int
    payload: bytes


@attrs.frozen(slots=True)
class Alarm:
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
        return f"{timer.step.name.lower()} h={timer.height} r={timer.round}"
    if isinstance(timer, ReplicaTimer):
        return timer.name
    return repr(timer)
