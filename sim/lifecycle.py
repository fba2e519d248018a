"""The parts of a run that change who is up and what the network does: faults, crashes,
restarts, pauses, connections, the client workload, the heal point and the final verdicts.

A mixin of `sim.runner.Simulation`, split out to keep each module to one job: the runner
moves events into replicas and effects out of them; this module changes the world around them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from consensus.replica import events as ev
from sim.accountability import judge
from sim.checkers import SafetyChecker, Violation
from sim.clock import EventQueue, NodeClock
from sim.config import SimConfig
from sim.faults import Fault
from sim.items import Alarm, Item, Submit
from sim.liveness import Core, FaultCounters, choose_core, proven_excuse
from sim.network import Network
from sim.node import SimNode, Status
from sim.result import Outcome
from sim.rng import SeedTree
from sim.stack import World
from sim.stall import describe
from sim.timeline import Timeline
from sim.trace import Trace
from sim.votes_seen import VoteRecord
from sim.workload import Workload


class Lifecycle:
    """Fault injection, the liveness phase and the end-of-run verdicts (see module doc)."""

    config: SimConfig
    tree: SeedTree
    world: World
    queue: EventQueue[Item]
    network: Network
    trace: Trace
    timeline: Timeline
    nodes: list[SimNode]
    by_key: dict[bytes, list[SimNode]]
    keys: list[bytes]
    checker: SafetyChecker
    evidence: VoteRecord
    workload: Workload
    correct_keys: frozenset[bytes]
    named_by_evidence: set[bytes]
    connected: dict[int, set[bytes]]
    counts: dict[str, int]
    core: Core | None
    target_height: int
    healed: bool
    schedule: tuple[Fault, ...]
    at_heal: FaultCounters | None

    def _started(self, now: int, node: SimNode, what: str) -> None:
        raise NotImplementedError

    def _step(
        self, now: int, node: SimNode, event: ev.ReplicaEvent, what: str, detail: str
    ) -> None:
        raise NotImplementedError

    def _count(self, what: str, n: int = 1) -> None:
        raise NotImplementedError

    if TYPE_CHECKING:  # provided by `sim.durability.Durability`

        def _lose(self, now: int, node: SimNode, power: bool) -> str: ...

        def _reopen(self, now: int, node: SimNode) -> bool: ...

        def _pump(self, now: int, node: SimNode) -> None: ...

        def _storage_fault(self, now: int, fault: Fault, starting: bool) -> None: ...

    # ------------------------------------------------------------ heights

    @staticmethod
    def _height(node: SimNode) -> int:
        """The last height `node` committed (its store survives crashes)."""
        if node.store is not None:
            return node.store.last_height()
        return node.replica.last_committed_height if node.replica is not None else 0

    def _min_height(self) -> int:
        return min((self._height(n) for n in self.nodes if n.correct), default=0)

    def _core_nodes(self) -> list[SimNode]:
        core = self.core
        assert core is not None
        return [n for n in self.nodes if n.validator in core.validators]

    # ------------------------------------------------------------ connectivity

    def _reconnect(self, now: int) -> None:
        """Tell every up instance which validator keys it is connected to now (sorted)."""
        for node in self.nodes:
            if node.status is Status.DOWN:
                continue
            wanted = {
                other.key
                for other in self.nodes
                if other.key != node.key
                and other.status is not Status.DOWN
                and self.network.connected(node.index, other.index)
            }
            have = self.connected[node.index]
            for key in sorted(have - wanted):
                have.discard(key)
                self._step(now, node, ev.PeerDisconnected(key), "disconn", key[:4].hex())
                if node.status is Status.DOWN:
                    break
            for key in sorted(wanted - have):
                if node.status is Status.DOWN:
                    break
                have.add(key)
                self._step(now, node, ev.PeerConnected(key), "connect", key[:4].hex())

    # ------------------------------------------------------------ faults

    def _fault(self, now: int, fault: Fault, starting: bool) -> None:
        if self.healed:
            return
        self.trace.emit(
            now, "-", None, None, "-", "fault+" if starting else "fault-", fault.describe()
        )
        if starting:
            self._count(fault.kind)
            self.timeline.fault(fault)
        if fault.kind in ("partition", "clog", "filter"):
            if starting:
                self.network.start_fault(fault)
            else:
                self.network.end_fault(fault)
            if fault.kind == "partition":
                self._reconnect(now)
            return
        if fault.kind == "storage":
            self._storage_fault(now, fault, starting)
            return
        node = self.nodes[fault.nodes[0]]
        if fault.kind == "pause":
            if starting and node.status is Status.UP:
                node.status = Status.PAUSED
            elif not starting and node.status is Status.PAUSED:
                self._resume(now, node)
            return
        if starting and node.status is Status.UP:  # crash or outage
            node.crash_after = fault.effect_index
            if fault.effect_index == 0:
                self._crash(now, node, "at once")
        elif not starting:
            if node.status is not Status.DOWN and node.crash_after is not None:
                self._crash(now, node, "before restart")
            if node.status is Status.DOWN:
                self._restart(now, node)

    def _crash(self, now: int, node: SimNode, when: str, *, power: bool = False) -> None:
        kept = self._lose(now, node, power)
        event = "power cut" if power else "crash"
        self.trace.emit(now, node.name, None, None, "down", event, f"{when}; {kept}")
        self.timeline.down(now, node.index)
        self._reconnect(now)

    def _restart(self, now: int, node: SimNode) -> None:
        if not self._reopen(now, node):
            return
        self.timeline.up(now, node.index)
        self._started(now, node, "restart")
        self._reconnect(now)

    def _resume(self, now: int, node: SimNode) -> None:
        node.status = Status.UP
        held, node.inbox = node.inbox, []
        self.trace.emit(now, node.name, None, None, "-", "resume", f"{len(held)} held events")
        for event, what, detail in held:
            if node.status is not Status.UP:
                break
            self._step(now, node, event, what, detail)  # type: ignore[arg-type]
        self._pump(now, node)  # a sync that returned while paused lets the plan go on

    # ------------------------------------------------------------ workload

    def _submit(self, now: int) -> None:
        for index, tx in self.workload.tick(now, self.nodes):
            node = self.nodes[index]  # a crashed validator loses the submission
            if node.status is not Status.DOWN:
                self._step(now, node, ev.TxSubmitted(tx), "tx", f"{len(tx)} bytes")
        self.queue.push(now + self.workload.gap_ms(self.config.tx_per_s), Submit())

    # ------------------------------------------------------------ liveness phase

    def _heal(self, now: int) -> None:
        """End every fault, stop new ones, and bring the core up; start the liveness clock."""
        self.healed = True
        self.network.heal()
        self.core = choose_core(self.config, self.tree.rng("liveness"))
        self.trace.emit(
            now,
            "-",
            None,
            None,
            "-",
            "heal",
            f"core {','.join(f'v{i}' for i in self.core.validators)}",
        )
        self.timeline.heal(now)
        self._stop_drift(now)
        for node in self.nodes:
            node.crash_after = node.power_cut_at = None
            node.disk_slowdown = 1
            if node.status is Status.PAUSED:
                self._resume(now, node)
            if node.status is Status.DOWN and node.validator in self.core.validators:
                self._restart(now, node)
        self._reconnect(now)
        self.at_heal = self._fault_counters()
        correct = [self._height(n) for n in self.nodes if n.correct]
        self.target_height = max(correct, default=0) + self.config.liveness_heights

    def _stop_drift(self, now: int) -> None:
        """Clock drift is a fault that never ends by itself: stop it. Each clock goes on from
        its current reading at the true rate (no jump, never back), and each armed timer moves
        to when the new clock reaches the reading the old one would have had at its alarm, so
        none fires before its deadline (a replica may rightly ignore an early one)."""
        old = {node.index: node.clock for node in self.nodes}
        for node in self.nodes:
            node.clock = NodeClock(node.clock.local(now) - now, 0)

        def move(time_ms: int, item: Item) -> int:
            if not isinstance(item, Alarm):
                return time_ms
            reading = old[item.dst].local(time_ms)
            return max(now, self.nodes[item.dst].clock.to_global(reading))

        self.queue.reschedule(move)

    def _fault_counters(self) -> FaultCounters:
        stats = self.network.stats
        return FaultCounters(
            dropped=stats.dropped_loss + stats.dropped_partition + stats.dropped_filter,
            duplicated=stats.duplicated,
            clogged=stats.clogged,
            crashes=sum(n.crashes for n in self.nodes),
            paused=sum(1 for n in self.nodes if n.status is Status.PAUSED),
        )

    def _liveness_verdict(self) -> str:
        cfg = self.config
        if not self.healed or self.core is None:
            return "not reached"
        assert self.at_heal is not None
        moved = self._fault_counters().moved_since(self.at_heal)
        if moved:  # the simulator broke its own promise: no verdict can stand on that
            raise Violation(
                Outcome.CRASH, "simulator error: faults after the heal (" + ", ".join(moved) + ")"
            )
        lagging = [n for n in self._core_nodes() if self._height(n) < self.target_height]
        if not lagging:
            return f"core reached height {self.target_height}"
        stuck = ", ".join(f"{n.name} at {self._height(n)}" for n in lagging)
        excuse = proven_excuse(cfg, self.core)
        if excuse is not None:
            return f"stalled ({stuck}), explained: {excuse}"
        committed = {n.index: self._height(n) for n in self.nodes}
        raise Violation(
            Outcome.LIVENESS,
            f"after the heal at {cfg.safety_ms} ms the core did not reach height "
            f"{self.target_height} within {cfg.liveness_ms} ms; no excuse holds: "
            + describe(self.nodes, lagging, committed),
        )

    # ------------------------------------------------------------ accountability

    def _accountability(self) -> str | None:
        forked = bool(self.checker.forks)
        names = {n.key: f"v{n.validator}" for n in self.nodes}
        verdict = judge(
            self.evidence,
            self.correct_keys,
            names,
            forked,
            frozenset(self.named_by_evidence),
        )
        if not verdict.ok:
            raise Violation(Outcome.ACCOUNTABILITY, verdict.reason)
        if forked:
            return (
                f"accountable fork at height {self.checker.forks[0][0]}: convicted "
                f"{verdict.convicted_power}/{self.evidence.total_power} ("
                + "; ".join(verdict.convicted)
                + ")"
            )
        return None

    def _fault_counts(self) -> dict[str, int]:
        counts = dict(self.counts)
        stats = attrs.asdict(self.network.stats)
        for key in ("dropped_loss", "dropped_partition", "dropped_filter", "duplicated", "clogged"):
            if stats[key]:
                counts[key] = stats[key]
        counts["byzantine messages"] = sum(
            n.strategy.sent for n in self.nodes if n.strategy is not None
        )
        counts["amnesia"] = sum(n.amnesias for n in self.nodes)
        return {k: v for k, v in sorted(counts.items()) if v}
