"""One simulated validator instance: its replica, disk, store, executor, clock, and life cycle.

An instance is up, paused (a stalled process: arriving events wait in its inbox) or down
(crashed: its replica object is gone, its in-flight timers are void, and only what its disk
kept survives). The store is the production `LmdbStore` on a simulated disk (`sim.disk`), and
the replica's effects run through the node's executor plan with writes that take virtual time
(`sim.executor`), so a crash can land while a write is in flight. A crash is a process crash
or a power cut; the disk decides what survives (`SimDisk.crash`). A restart reopens the store
from the disk and the replica from the store, exactly as a restarted process would; if either
refuses (a store that is not safe to resume from), the instance stays down and the refusal is
counted. Each (re)start bumps `generation`, and timers and syncs from older generations are
dropped when they fire.
"""

from __future__ import annotations

import enum
import random

import attrs

from consensus.codec import decode_sign_state, encode_sign_state
from consensus.crypto import Signer
from consensus.interfaces import StoreError
from consensus.replica.replica import Replica, ReplicaStartError
from ledger.app import LedgerLoadError
from sim.byzantine import Strategy, make_strategy
from sim.clock import NodeClock
from sim.config import SimConfig
from sim.disk import CrashReport, SimDisk
from sim.disk_store import SimLmdbStore
from sim.executor import SimExecutor
from sim.items import STEP_NAMES
from sim.rng import SeedTree
from sim.stack import World, open_replica

REFUSALS = (StoreError, ReplicaStartError, LedgerLoadError)
"""The clear errors with which a store or replica refuses to open (anything else is a crash)."""

MAX_INBOX = 5_000


class ReplicaCrash(Exception):
    """The replica raised (an assertion of its own, or any error) while handling an event."""


class Status(enum.Enum):
    UP = "up"
    PAUSED = "paused"
    DOWN = "down"


_UP, _PAUSED, _DOWN = Status.UP, Status.PAUSED, Status.DOWN  # looked up per event: an Enum
# member lookup costs more than the test


@attrs.define
class SimNode:
    index: int  # instance index
    validator: int  # validator index (a twin shares its original's)
    name: str
    signer: Signer
    correct: bool
    clock: NodeClock
    strategy: Strategy | None = None
    lying_disk: bool = False  # its disk lies about fsync (beyond the model; a faulty validator)
    disk: SimDisk | None = None
    store: SimLmdbStore | None = None
    executor: SimExecutor = attrs.field(factory=SimExecutor)
    replica: Replica | None = None
    status: Status = Status.DOWN
    generation: int = 0
    inbox: list[tuple[object, ...]] = attrs.field(factory=list)
    crash_after: int | None = None  # a pending crash: after this many effects of the next step
    power_cut_at: int | None = None  # a pending power cut: while this durable write is in flight
    disk_slowdown: int = 1  # syncs take this many times longer (a slow-disk fault)
    last_crash: CrashReport | None = None
    crashes: int = 0
    amnesias: int = 0
    refusals: int = 0

    @property
    def key(self) -> bytes:
        return self.signer.public_key

    @property
    def up(self) -> bool:
        return self.status is _UP

    @property
    def where(self) -> str:
        return f"sim://{self.name}"

    def boot(self, world: World) -> None:
        """A new validator: a formatted disk, its store and first sign state, the replica."""
        self.disk = SimDisk(lying=self.lying_disk)
        self.store = SimLmdbStore.open_on(self.disk, self.where)
        Replica.initialize_store(self.store)
        self._open(world)

    def crash(self, rng: random.Random, *, power: bool = False) -> CrashReport:
        """Lose the process (and with `power`, the machine): the replica, timers, queued
        effects and the write in flight go; the disk keeps what its model allows."""
        assert self.disk is not None and self.store is not None
        self.executor.abandon()
        self.last_crash = self.disk.crash(rng, power=power)
        self.store.close()
        self.store = None
        self.replica = None
        self.status = Status.DOWN
        self.inbox.clear()
        self.crash_after = None
        self.power_cut_at = None
        self.crashes += 1
        return self.last_crash

    def restart(self, world: World) -> str | None:
        """Reopen the store from the disk and the replica from the store; None when up, else
        the clear error with which the store or replica refused (the instance stays down)."""
        assert self.disk is not None and self.status is Status.DOWN
        try:
            self.store = SimLmdbStore.open_on(self.disk, self.where)
        except REFUSALS as exc:
            return self._refused(exc)
        return self._reopen_replica(world)

    def forget_lock(self, world: World) -> str | None:
        """Amnesia: rebuild the replica from a store whose sign state has no lock (a process
        restart: the write in flight completes, queued effects are lost). None when up, else
        why the store refused (the instance is down)."""
        assert self.store is not None and self.disk is not None
        self.executor.abandon()
        if self.disk.in_flight:
            self.disk.complete_call()
        raw = self.store.load_sign_state()
        assert raw is not None
        state = decode_sign_state(raw)
        state = attrs.evolve(state, locked_round=-1, locked_value=None)
        self.store.save_sign_state(encode_sign_state(state))
        self.amnesias += 1
        self.replica = None
        self.status = Status.DOWN
        return self._reopen_replica(world)

    def _reopen_replica(self, world: World) -> str | None:
        try:
            self._open(world)
        except ReplicaCrash as crash:
            cause = crash.__cause__
            if isinstance(cause, REFUSALS):
                return self._refused(cause)
            raise
        return None

    def _refused(self, exc: Exception) -> str:
        if self.store is not None:
            self.store.close()
            self.store = None
        self.refusals += 1
        return f"{type(exc).__name__}: {exc}"

    def _open(self, world: World) -> None:
        assert self.store is not None
        try:
            self.replica = open_replica(world, self.signer, self.store)
        except Exception as exc:
            raise ReplicaCrash(f"{self.name} failed to reopen from its store: {exc!r}") from exc
        self.status = Status.UP
        self.generation += 1

    def hold(self, item: tuple[object, ...]) -> None:
        """Keep an event for a paused instance (the oldest go first when full)."""
        self.inbox.append(item)
        if len(self.inbox) > MAX_INBOX:
            del self.inbox[0]

    def view(self) -> tuple[int | None, int | None, str]:
        """(height, round, step) for the trace, or Nones when down."""
        replica = self.replica
        if replica is None or self.status is _DOWN:
            return None, None, "down"
        step = STEP_NAMES[replica.step]
        return replica.height, replica.round, "paused" if self.status is _PAUSED else step


def make_nodes(cfg: SimConfig, world: World, tree: SeedTree) -> list[SimNode]:
    """Every instance of run `cfg`: validators first, then the twins, with clocks and strategies."""
    clocks = tree.rng("clocks")
    byz = tree.rng("byzantine")
    nodes = []
    instances = [(i, i) for i in range(cfg.validators)]
    instances += [(cfg.validators + k, v) for k, v in enumerate(cfg.twins)]
    faulty = set(cfg.faulty)
    for index, validator in instances:
        offset = clocks.randint(0, cfg.clock_offset_max_ms) if cfg.clock_offset_max_ms else 0
        drift = cfg.clock_drift_max_ppm
        drift = clocks.randint(-drift, drift) if drift else 0
        signer = world.signers[validator]
        node = SimNode(
            index=index,
            validator=validator,
            name=f"v{validator}" + ("'" if index >= cfg.validators else ""),
            signer=signer,
            correct=validator not in faulty,
            clock=NodeClock(offset, drift),
            lying_disk=validator in cfg.disk_lies,
        )
        strategy = cfg.strategy_of(validator) if index < cfg.validators else None
        if strategy is not None:
            peers = tuple(sorted(s.public_key for s in world.signers if s is not signer))
            node.strategy = make_strategy(strategy, signer, world.chain_id, peers, byz, world)
        nodes.append(node)
    return nodes
