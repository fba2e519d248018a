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

import time
import traceback
from collections.abc import Callable
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
from sim.liveness import Core
from sim.network import Network
from sim.node import ReplicaCrash, SimNode, Status, make_nodes
from sim.oracle import LedgerOracle
from sim.planted import planted
from sim.recovery import RecoveryChecker
from sim.result import Outcome, RunResult, RunSpec
from sim.rng import SeedTree
from sim.stack import World, build_world
from sim.swarm import derive_config
from sim.timeline import Timeline
from sim.trace import Trace
from sim.votes_seen import VoteRecord
from sim.wire_info import WireCache
from sim.workload import Workload

BEYOND_BUDGET_TAIL_MS = 3_000

Progress = Callable[[int, int, int], None]  # (virtual now, virtual end, min height)


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
        self.wire = WireCache()
        self.progress = progress
        self.nodes = make_nodes(self.config, self.world, self.tree)
        self.by_key: dict[bytes, list[SimNode]] = {}
        for node in self.nodes:
            self.by_key.setdefault(node.key, []).append(node)
        self.keys = sorted(self.by_key)
        names = {n.key: f"v{n.validator}" for n in self.nodes}
        self.correct_keys = frozenset(n.key for n in self.nodes if n.correct)
        self.sent = VoteRecord(self.world.chain_id, self.world.validators, self.world.scheme)
        self.evidence = VoteRecord(self.world.chain_id, self.world.validators, self.world.scheme)
        self.checker = SafetyChecker(self.sent, self.world.validators, names, cfg.within_budget)
        world = self.world
        self.oracle = LedgerOracle(world.genesis, world.scheme, judge_clients=cfg.within_budget)
        self.workload = Workload(
            self.world, self.tree.rng("workload"), cfg.invalid_tx_pct, self.oracle
        )
        self.submit_rng = self.tree.rng("crash")
        self.named_by_evidence: set[bytes] = set()
        self.recovery = RecoveryChecker()
        self.disk_rng = self.tree.rng("disk")
        self._sent_now = 0
        self.blocks_seen: dict[int, set[bytes]] = {n.index: set() for n in self.nodes}
        self.connected: dict[int, set[bytes]] = {n.index: set() for n in self.nodes}
        self.counts: dict[str, int] = {}
        self.core: Core | None = None
        self.target_height = 0
        self.healed = False
        self.done = ""
        self.events = 0

    # ------------------------------------------------------------ setup

    def _count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    # ------------------------------------------------------------ the run

    def run(self) -> RunResult:
        """Run to the end (or the first violation), with the config's planted bugs in place."""
        with planted(self.config.bugs):
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
            while self.queue and not self.done:
                now, item = self.queue.pop()
                if now > end_ms:
                    break
                self.events += 1
                self._dispatch(now, item)
                if self.progress is not None and self.events % 500 == 0:
                    self.progress(now, end_ms, self._min_height())
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
            if node.generation == item.generation and node.status is not Status.DOWN:
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
        if node.status is Status.DOWN:
            self.network.stats.dropped_down += 1
            return
        self.network.stats.delivered += 1
        sender = self.nodes[src]
        msg = self.wire.signed(payload)
        if isinstance(msg, ProposalMsg):
            self.blocks_seen[node.index].add(msg.proposal.block_id)
        elif isinstance(msg, VoteMsg) and node.correct:
            self.evidence.add(msg.vote)
        if node.strategy is not None:
            node.strategy.incoming(payload)
        event = ev.MessageReceived(sender.key, payload)
        self._step(now, node, event, "recv", f"from {sender.name} {self.wire.classify(payload)}")

    def _step(
        self, now: int, node: SimNode, event: ev.ReplicaEvent, what: str, detail: str
    ) -> None:
        """Hand `event` to `node` (or hold it while paused) and execute the effects."""
        if node.status is Status.PAUSED:
            node.hold((event, what, detail))
            return
        replica = node.replica
        assert replica is not None
        try:
            effects = replica.handle(event, node.clock.local(now))
            replica.check_invariants()
        except Exception as exc:
            raise ReplicaCrash(f"{node.name} raised on {what} ({detail}): {exc!r}") from exc
        sent = self._execute(now, node, effects)
        self._after_step(now, node, what, f"{detail}; {sent}" if sent else detail)

    def _started(self, now: int, node: SimNode, what: str) -> None:
        replica = node.replica
        assert replica is not None and node.store is not None
        raw = node.store.load_sign_state()
        if node.correct and raw is not None:
            self.checker.on_persist(node.index, raw)
        self.blocks_seen[node.index] = set()
        try:
            effects = replica.start(node.clock.local(now))
            replica.check_invariants()
        except Exception as exc:
            raise ReplicaCrash(f"{node.name} raised on {what}: {exc!r}") from exc
        self.connected[node.index] = set()
        sent = self._execute(now, node, effects)
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
            if node.correct and msg.vote.validator == node.key:
                self.checker.on_own_message(node.index, node.key, msg.vote)
                self.recovery.on_sent(node.index, msg.vote)
        elif isinstance(msg, ProposalMsg):
            self.blocks_seen[node.index].add(msg.proposal.block_id)
            self.checker.on_proposal_sent(msg.proposal)
            own = node.correct and msg.proposal.proposer == node.key
            if own and self.sent.authentic(msg.proposal):
                self.checker.on_own_message(node.index, node.key, msg.proposal)
                self.recovery.on_sent(node.index, msg.proposal)

    def _send(self, now: int, node: SimNode, key: bytes, payload: bytes) -> int:
        count = 0
        for dst in self.by_key.get(key, ()):
            if dst is node:
                continue
            for at in self.network.route(
                node.index, dst.index, now, lambda: self.wire.classify(payload)
            ):
                self.queue.push(at, Arrival(dst.index, node.index, payload))
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
