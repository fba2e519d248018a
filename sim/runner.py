"""One simulation run: N real replicas on a virtual clock, under the faults of one seed.

Theory of operation. Everything that happens is an item on one `EventQueue` ordered by
(virtual time, sequence): a message arriving, a timer firing, a fault starting or ending, a
client transaction, the heal point, the end. Popping an item hands one event to one replica
(with that instance's local clock reading) and executes the effects it returns strictly in
order: persist, commit, send, broadcast, set timer ... A send becomes zero, one or two future
arrivals chosen by the network model. Checkers watch every effect; the first violation ends
the run. Peers are always iterated in sorted key order, and every random draw comes from one
of the seed's sub-streams, so a seed replays bit for bit (the trace digest proves it).
"""

from __future__ import annotations

import contextlib
import gc
import time
import traceback
from collections.abc import Callable, Iterator
from typing import TextIO

from consensus.replica import events as ev
from consensus.replica.wire import ProposalMsg, VoteMsg
from sim.checkers import SafetyChecker, Violation
from sim.clock import EventQueue
from sim.config import SimConfig
from sim.durability import Durability
from sim.faults import Fault, build_schedule, instance_count, select
from sim.items import Alarm, Arrival, Edge, Heal, Item, Submit, Synced, timer_name
from sim.lifecycle import Lifecycle
from sim.liveness import Core, FaultCounters
from sim.network import Network
from sim.node import ReplicaCrash, SimNode, Status, make_nodes
from sim.oracle import LedgerOracle
from sim.planted import planted
from sim.recovery import RecoveryChecker
from sim.result import Outcome, RunResult, RunSpec
from sim.rng import SeedTree
from sim.rules import RuleChecker
from sim.stack import World, build_world
from sim.swarm import derive_config
from sim.timeline import Timeline
from sim.trace import Trace
from sim.votes_seen import VoteRecord
from sim.wire_info import WireCache
from sim.workload import Workload

BEYOND_BUDGET_TAIL_MS = 3_000
MAX_EVIDENCE_SEEN = 50_000
MAX_RECEIVED_EVENTS = 4_096
DOWN, PAUSED = Status.DOWN, Status.PAUSED  # an Enum member lookup costs ~0.1 us; asked per event

Progress = Callable[[int, int, int], None]  # (virtual now, virtual end, min height)


YOUNG_COLLECTION_THRESHOLD = 20_000


@contextlib.contextmanager
def collector_tuned() -> Iterator[None]:
    """Garbage collection for the length of a run, as `network/gctune.py` does for a validator.

    A run allocates a few hundred short-lived objects per height and keeps a growing heap
    (stores, vote records); with CPython's defaults the collector took 5-8% of a run, more the
    longer it ran, mostly rescanning what existed before the run. Freezing that heap and
    collecting the young generation less often costs no memory (runs make few cycles) and
    changes nothing a run computes; the previous settings come back when the run ends."""
    threshold = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0  # a caller that froze its heap keeps it frozen as it is
    if freeze:
        gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, threshold[1], threshold[2])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if freeze:
            gc.unfreeze()


class Simulation(Lifecycle, Durability):
    """Build with a `RunSpec`, then `run()` once."""

    def __init__(
        self,
        spec: RunSpec,
        *,
        trace_out: TextIO | None = None,
        progress: Progress | None = None,
        config: SimConfig | None = None,
        schedule: tuple[Fault, ...] | None = None,
    ) -> None:
        """`config` and `schedule` replace what the seed derives (hand-written scenarios)."""
        self.spec = spec
        self.config = config or derive_config(spec.seed, spec.overrides)
        cfg = self.config
        self.tree = SeedTree(cfg.seed)
        if schedule is None:
            schedule = select(build_schedule(cfg), spec.keep_faults)
        self.schedule: tuple[Fault, ...] = schedule
        self.world: World = build_world(cfg, self.tree.rng("keys"))
        self.queue: EventQueue[Item] = EventQueue()
        self.network = Network(cfg, instance_count(cfg), self.tree.rng("network"))
        self.trace = Trace(trace_out)
        self.timeline = Timeline()
        self.wire = WireCache(self.world.decoded)
        self.progress = progress
        self.nodes = make_nodes(self.config, self.world, self.tree)
        self.by_key: dict[bytes, list[SimNode]] = {}
        for node in self.nodes:
            self.by_key.setdefault(node.key, []).append(node)
        self.keys = sorted(self.by_key)
        self.instance_keys = [n.key for n in self.nodes]  # by instance index (keys never change)
        names = {n.key: f"v{n.validator}" for n in self.nodes}
        self.correct_keys = frozenset(n.key for n in self.nodes if n.correct)
        self.sent = VoteRecord(self.world.chain_id, self.world.validators, self.world.scheme)
        self.evidence = VoteRecord(self.world.chain_id, self.world.validators, self.world.scheme)
        self.checker = SafetyChecker(self.sent, self.world.validators, names, cfg.within_budget)
        world = self.world
        self.oracle = LedgerOracle(world.genesis, world.scheme, judge_clients=cfg.within_budget)
        self.rules = RuleChecker(cfg, [s.public_key for s in world.signers])
        self.workload = Workload(
            self.world, self.tree.rng("workload"), cfg.invalid_tx_pct, self.oracle
        )
        self.named_by_evidence: set[bytes] = set()
        self._evidence_seen: set[bytes] = set()  # vote payloads offered to `evidence` already
        self._received: dict[tuple[int, bytes], ev.MessageReceived] = {}  # immutable events
        self.recovery = RecoveryChecker()
        self.disk_rng = self.tree.rng("disk")
        self._sent_now = 0
        self.connected: dict[int, set[bytes]] = {n.index: set() for n in self.nodes}
        self.counts: dict[str, int] = {}
        self.core: Core | None = None
        self.target_height = 0
        self.healed = False
        self.at_heal: FaultCounters | None = None
        self.done = ""
        self.events = 0

    # ------------------------------------------------------------ setup

    def _count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    # ------------------------------------------------------------ the run

    def run(self) -> RunResult:
        """Run to the end (or the first violation), with the config's planted bugs in place."""
        with planted(self.config.bugs), collector_tuned():
            return self._run()

    def _run(self) -> RunResult:
        cfg = self.config
        started = time.perf_counter()
        outcome, reason, notes, liveness = Outcome.PASS, "", [], ""
        # Beyond the fault budget nothing is promised about liveness: a short tail is enough to
        # gather what correct validators receive for the accountability verdict.
        tail = cfg.liveness_ms if cfg.within_budget else min(cfg.liveness_ms, BEYOND_BUDGET_TAIL_MS)
        end_ms = cfg.safety_ms + tail
        try:
            self._boot()
            dispatch, progress, pop = self._dispatch, self.progress, self.queue.pop
            while not self.done:
                try:
                    now, item = pop()
                except IndexError:  # the queue ran dry
                    break
                if now > end_ms:
                    break
                self.events += 1
                dispatch(now, item)
                if progress is not None and self.events % 500 == 0:
                    progress(now, end_ms, self._min_height())
            liveness = self._liveness_verdict()
            verdict = self._accountability()
            if verdict is not None:
                notes.append(verdict)
        except Violation as violation:
            outcome, reason = violation.outcome, violation.reason
        except ReplicaCrash as crash:
            outcome, reason = Outcome.CRASH, str(crash)
        except Exception as exc:  # a simulator bug is also a crash, labelled as such
            where = traceback.extract_tb(exc.__traceback__)[-1]
            outcome = Outcome.CRASH
            reason = f"simulator error {exc!r} at {where.filename}:{where.lineno}"
        now = self.queue.now_ms
        if outcome.failed:
            self.trace.emit(now, "-", None, None, "-", "violation", f"{outcome.value}: {reason}")
            self.timeline.violation(now, reason)
        self.trace.emit(now, "-", None, None, "-", "end", outcome.value)
        return RunResult(
            spec=self.spec,
            outcome=outcome,
            reason=reason,
            heights=tuple(self._height(n) for n in self.nodes),
            events=self.events,
            virtual_ms=now,
            wall_s=time.perf_counter() - started,
            faults=self._fault_counts(),
            digest=self.trace.digest(),
            notes=tuple(notes),
            liveness=liveness,
        )

    def _boot(self) -> None:
        cfg = self.config
        for fault in self.schedule:
            self.queue.push(fault.start_ms, Edge(fault, True))
            self.queue.push(fault.end_ms, Edge(fault, False))
        self.queue.push(cfg.safety_ms, Heal())
        if cfg.tx_per_s:
            self.queue.push(self.workload.gap_ms(cfg.tx_per_s), Submit())
        for node in self.nodes:
            node.boot(self.world)
            self._started(0, node, "start")
        self._reconnect(0)

    def _dispatch(self, now: int, item: Item) -> None:
        if isinstance(item, Arrival):
            self._deliver(now, self.nodes[item.dst], item.src, item.payload)
        elif isinstance(item, Alarm):
            node = self.nodes[item.dst]
            if node.generation == item.generation and node.status is not DOWN:
                event = ev.TimerFired(item.timer)
                self._step(now, node, event, "timer", timer_name(item.timer))
        elif isinstance(item, Synced):
            self._on_synced(now, item)
        elif isinstance(item, Edge):
            self._fault(now, item.fault, item.starting)
        elif isinstance(item, Submit):
            self._submit(now)
        else:
            self._heal(now)

    # ------------------------------------------------------------ events into replicas

    def _deliver(self, now: int, node: SimNode, src: int, payload: bytes) -> None:
        if node.status is DOWN:
            self.network.stats.dropped_down += 1
            return
        self.network.stats.delivered += 1
        sender = self.nodes[src]
        msg, kind = self.wire.info(payload)
        if isinstance(msg, VoteMsg) and node.correct and payload not in self._evidence_seen:
            # Recording is idempotent: a payload recorded once (as a vote or as a forgery) need
            # not be offered again by each of its receivers.
            if len(self._evidence_seen) >= MAX_EVIDENCE_SEEN:
                self._evidence_seen.clear()
            self._evidence_seen.add(payload)
            self.evidence.add(msg.vote)
        if node.correct:
            self._heard(node, msg)
        if node.strategy is not None:
            node.strategy.incoming(payload)
        event = self._received.get((src, payload))  # a broadcast: one event for every receiver
        if event is None:
            if len(self._received) >= MAX_RECEIVED_EVENTS:
                self._received.clear()
            event = self._received[(src, payload)] = ev.MessageReceived(
                self.instance_keys[src], payload
            )
        self._step(now, node, event, "recv", f"from {sender.name} {kind}")

    def _heard(self, node: SimNode, msg: object) -> None:
        """Tell the rule oracles what signed message `node` received or sent."""
        if isinstance(msg, ProposalMsg):
            self.rules.heard(node, msg.proposal)
        elif isinstance(msg, VoteMsg):
            self.rules.heard(node, msg.vote)

    def _rule_effects(self, node: SimNode, effects: list[ev.ReplicaEffect], now: int) -> None:
        """What the rule oracles read of a step, as the replica emitted it (the executor may
        run it later, behind a sync): its guard, its timers, what it signed and sends."""
        if not node.correct:
            return
        for effect in effects:
            if isinstance(effect, ev.PersistSignState):
                self.rules.persisted(node, effect.data)
            elif isinstance(effect, ev.SetTimer):
                self.rules.timer(node, effect, node.clock.local(now))
            elif isinstance(effect, ev.BroadcastPayload | ev.SendTo):
                self._heard(node, self.wire.signed(effect.payload))

    def _step(
        self, now: int, node: SimNode, event: ev.ReplicaEvent, what: str, detail: str
    ) -> None:
        """Hand `event` to `node` (or hold it while paused) and execute the effects."""
        if node.status is PAUSED:
            node.hold((event, what, detail))
            return
        replica = node.replica
        assert replica is not None
        self.rules.begin(node, starting=False)
        try:
            effects = replica.handle(event, node.clock.local(now))
            replica.check_invariants()
        except Exception as exc:
            raise ReplicaCrash(f"{node.name} raised on {what} ({detail}): {exc!r}") from exc
        self._rule_effects(node, effects, now)
        sent = self._execute(now, node, effects)
        self.rules.end(node, event)
        self._after_step(now, node, what, f"{detail}; {sent}" if sent else detail)

    def _started(self, now: int, node: SimNode, what: str) -> None:
        replica = node.replica
        assert replica is not None and node.store is not None
        raw = node.store.load_sign_state()
        if node.correct and raw is not None:
            self.checker.on_persist(node.index, raw)
            self.rules.persisted(node, raw)
        self.rules.begin(node, starting=True)
        try:
            effects = replica.start(node.clock.local(now))
            replica.check_invariants()
        except Exception as exc:
            raise ReplicaCrash(f"{node.name} raised on {what}: {exc!r}") from exc
        self.connected[node.index] = set()
        self._rule_effects(node, effects, now)
        sent = self._execute(now, node, effects)
        self.rules.end(node, None)
        self._after_step(now, node, what, sent)

    def _after_step(self, now: int, node: SimNode, what: str, detail: str) -> None:
        height, round_, step = node.view()
        self.trace.emit(now, node.name, height, round_, step, what, detail)
        if height is not None and round_ is not None:
            self.timeline.sample(now, node.index, height, round_)
        strategy = node.strategy
        replica = node.replica
        if strategy is not None and replica is not None and node.up:
            locked = replica.core.sign_state.locked_round
            if replica.core.height == replica.height and strategy.wants_amnesia(locked):
                refusal = node.forget_lock(self.world)
                if refusal is None:
                    self._started(now, node, "amnesia")
                else:
                    self._count("refused restart")
                    self.trace.emit(now, node.name, None, None, "down", "refused", refusal)
                self._reconnect(now)

    # ------------------------------------------------------------ effects out of replicas
    # (through each node's executor and disk: `sim.durability`)

    def _outgoing(self, node: SimNode, payload: bytes) -> None:
        """Record signed messages as they leave; check what correct validators sign."""
        msg = self.wire.signed(payload)
        if isinstance(msg, VoteMsg):
            self.sent.add(msg.vote)
            key = self.instance_keys[node.index]
            if node.correct and msg.vote.validator == key:
                self.checker.on_own_message(node.index, key, msg.vote)
                self.recovery.on_sent(node.index, msg.vote)
        elif isinstance(msg, ProposalMsg):
            self.checker.on_proposal_sent(msg.proposal)
            key = self.instance_keys[node.index]
            own = node.correct and msg.proposal.proposer == key
            if own and self.sent.authentic(msg.proposal):
                self.checker.on_own_message(node.index, key, msg.proposal)
                self.recovery.on_sent(node.index, msg.proposal)

    def _broadcast(self, now: int, node: SimNode, payload: bytes) -> int:
        """`_send` to every other validator key, in sorted key order."""
        count = 0
        route, push, src = self.network.route, self.queue.push, node.index
        own = self.instance_keys[src]
        kind = lambda: self.wire.classify(payload)  # noqa: E731 (asked only under a filter)
        for key in self.keys:
            if key == own:
                continue
            for dst in self.by_key[key]:
                if dst is node:
                    continue
                for at in route(src, dst.index, now, kind):
                    push(at, Arrival(dst.index, src, payload))
                    count += 1
        return count

    def _send(self, now: int, node: SimNode, key: bytes, payload: bytes) -> int:
        count = 0
        route, push, src = self.network.route, self.queue.push, node.index
        kind = lambda: self.wire.classify(payload)  # noqa: E731 (asked only under a filter)
        for dst in self.by_key.get(key, ()):
            if dst is node:
                continue
            for at in route(src, dst.index, now, kind):
                push(at, Arrival(dst.index, src, payload))
                count += 1
        return count

    def _committed(self, now: int, node: SimNode, effect: ev.CommitBlock) -> None:
        height = effect.record.height
        self.timeline.commit(now, node.index, height)
        if not node.correct:
            return
        first = height not in self.checker.decided
        self.checker.on_commit(node.index, effect)
        if first and not self.checker.forks:
            self.oracle.on_decided(height, effect.block_id, effect.record)
        if self.healed and self.core is not None and not self.done:
            core_heights = [self._height(n) for n in self._core_nodes()]
            if min(core_heights) >= self.target_height:
                self.done = "core progressed"
