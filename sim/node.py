"""One simulated validator instance: its replica, store, clock, and life cycle.

An instance is up, paused (a stalled process: arriving events wait in its inbox) or down
(crashed: its replica object is gone, its in-flight timers are void, and only what its store
holds survives). The store is a `MemoryStore` whose every write is synced, so a crash loses
nothing written; a restart reopens the replica from a snapshot of it, as a restarted process
would from disk. Each (re)start bumps `generation`, and timers from older generations are
dropped when they fire.
"""

from __future__ import annotations

import enum

import attrs

from consensus.codec import decode_sign_state, encode_sign_state
from consensus.crypto import Signer
from consensus.replica.replica import Replica
from ledger.store_memory import MemorySnapshot, MemoryStore
from sim.byzantine import Strategy, make_strategy
from sim.clock import NodeClock
from sim.config import SimConfig
from sim.items import STEP_NAMES
from sim.rng import SeedTree
from sim.stack import World, new_store, open_replica

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
    store: MemoryStore | None = None
    snapshot: MemorySnapshot | None = None
    replica: Replica | None = None
    status: Status = Status.DOWN
    generation: int = 0
    inbox: list[tuple[object, ...]] = attrs.field(factory=list)
    crash_after: int | None = None  # a pending crash: after this many effects of the next step
    crashes: int = 0
    amnesias: int = 0

    @property
    def key(self) -> bytes:
        return self.signer.public_key

    @property
    def up(self) -> bool:
        return self.status is _UP

    def boot(self, world: World) -> None:
        self.store = new_store()
        self._open(world)

    def crash(self) -> None:
        """Lose the process: the replica and timers go, the (synced) store stays."""
        assert self.store is not None
        self.snapshot = self.store.snapshot()
        self.store = None
        self.replica = None
        self.status = Status.DOWN
        self.inbox.clear()
        self.crash_after = None
        self.crashes += 1

    def restart(self, world: World) -> None:
        assert self.snapshot is not None and self.status is Status.DOWN
        self.store = MemoryStore.restore_from(self.snapshot)
        self.snapshot = None
        self._open(world)

    def forget_lock(self, world: World) -> None:
        """Amnesia: rebuild the replica from a store whose sign state has no lock."""
        assert self.store is not None
        raw = self.store.load_sign_state()
        assert raw is not None
        state = decode_sign_state(raw)
        state = attrs.evolve(state, locked_round=-1, locked_value=None)
        self.store.save_sign_state(encode_sign_state(state))
        self.amnesias += 1
        self._open(world)

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
        )
        strategy = cfg.strategy_of(validator) if index < cfg.validators else None
        if strategy is not None:
            peers = tuple(sorted(s.public_key for s in world.signers if s is not signer))
            node.strategy = make_strategy(strategy, signer, world.chain_id, peers, byz)
        nodes.append(node)
    return nodes
