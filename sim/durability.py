"""Effects out of replicas, through each node's executor, onto its disk; crashes and recovery.

A mixin of `sim.runner.Simulation`. The replica's effects go to the instance's `SimExecutor`
(the node's plan): sends, broadcasts and timers run when the plan reaches them, durable writes
are issued to the production store on the simulated disk and complete when their sync returns
(a `Synced` item, `disk_sync_ms` or so later, longer on a slow disk). Checkers hear of a write
only when it is durable, so "a signature left before the sign state covering it was durable"
is what the safety checker's persist rule now means.

Crash points: a process crash or a power cut lands between two effects, after a step, or while
a write is in flight (the disk keeps a prefix of that call's transactions; a power cut also
drops unsynced ones). On restart the store and the replica open as on a real node (refusing a
store that is not safe to resume from, with a clear error) and the recovery rules of
`sim.recovery` are checked; a correct validator's crash is always within the model, so a
refusal or a broken rule is a failure.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from consensus.interfaces import StoreError
from consensus.replica import events as ev
from consensus.replica.effect_order import DurableWrite
from sim.checkers import SafetyChecker, Violation
from sim.clock import EventQueue
from sim.config import SimConfig
from sim.executor import write_name
from sim.faults import Fault
from sim.items import Alarm, Item, Synced
from sim.node import ReplicaCrash, SimNode, Status
from sim.recovery import RecoveryChecker
from sim.result import Outcome
from sim.stack import World
from sim.trace import Trace
from sim.workload import Workload

_UP, _DOWN = Status.UP, Status.DOWN  # asked per effect: an Enum member lookup costs ~0.1 us


class Durability:
    """Executors, disks, crashes and recovery checks (see module doc)."""

    config: SimConfig
    world: World
    queue: EventQueue[Item]
    trace: Trace
    nodes: list[SimNode]
    keys: list[bytes]
    checker: SafetyChecker
    workload: Workload
    named_by_evidence: set[bytes]
    correct_keys: frozenset[bytes]
    recovery: RecoveryChecker
    disk_rng: random.Random
    _sent_now: int

    if TYPE_CHECKING:  # provided by the runner and `sim.lifecycle.Lifecycle`

        def _count(self, what: str, n: int = 1) -> None: ...

        def _crash(self, now: int, node: SimNode, when: str, *, power: bool = False) -> None: ...

        def _restart(self, now: int, node: SimNode) -> None: ...

        def _outgoing(self, node: SimNode, payload: bytes) -> None: ...

        def _send(self, now: int, node: SimNode, key: bytes, payload: bytes) -> int: ...

        def _broadcast(self, now: int, node: SimNode, payload: bytes) -> int: ...

        def _committed(self, now: int, node: SimNode, effect: ev.CommitBlock) -> None: ...

    # ------------------------------------------------------------ effects in

    def _execute(self, now: int, node: SimNode, effects: list[ev.ReplicaEffect]) -> str:
        """Queue a step's `effects` on the node's executor and run what can run now; returns
        a short summary for the trace. A pending crash point lands at the end of the step
        at the latest, possibly with a write in flight."""
        if node.strategy is not None:
            effects = node.strategy.outgoing(effects)
        queued = [e for e in effects if not self._informational(node, e)]
        if node.correct:
            for effect in queued:
                if isinstance(effect, ev.PersistSignState):
                    self.checker.on_sign_state(node.index, effect.data)
        self._sent_now = 0
        node.executor.submit(queued)
        self._pump(now, node)
        sent = self._sent_now
        if node.crash_after is not None and node.status is not _DOWN and effects:
            waiting = "" if node.executor.in_flight is None else ", a write in flight"
            self._crash(now, node, f"after the step's effects{waiting}")
            return f"sent {sent}, crashed" if sent else "crashed"
        return f"sent {sent}" if sent else ""

    def _informational(self, node: SimNode, effect: ev.ReplicaEffect) -> bool:
        """Effects the node's API and logs see at once (not ordered behind writes)."""
        if isinstance(effect, ev.EvidenceFound):
            self._count("evidence found")
            if node.correct:
                accused = effect.evidence.vote_a.validator
                self.named_by_evidence.add(accused)
                if accused in self.correct_keys:  # A2 fails for good: say so at once
                    raise Violation(
                        Outcome.ACCOUNTABILITY,
                        f"correct validator(s) convicted: {self.checker.names[accused]} "
                        f"(evidence reported by {node.name})",
                    )
        elif isinstance(effect, ev.TxAdmitted):
            stats = self.workload.stats
            if effect.admission.accepted:
                stats.admitted += 1
            else:
                stats.refused += 1
        elif isinstance(effect, ev.PeerMisbehaved):
            self._count("peer misbehaved")
        else:
            return False
        return True

    # ------------------------------------------------------------ the executor

    def _pump(self, now: int, node: SimNode) -> None:
        """Run the node's plan until a write is in flight, the queue is empty or it crashed."""
        executor = node.executor
        while node.status is _UP and executor.in_flight is None:
            write = executor.next_write(lambda effect: self._do(node, effect))
            if write is None or node.status is _DOWN:
                return
            self._issue(now, node, write)

    def _do(self, node: SimNode, effect: ev.ReplicaEffect) -> None:
        """One effect that needs no disk, when the plan reaches it."""
        if node.status is _DOWN:
            return
        now = self.queue.now_ms
        if node.crash_after is not None:
            if node.crash_after <= 0:
                self._crash(now, node, "between two effects")
                return
            node.crash_after -= 1
        if isinstance(effect, ev.BroadcastPayload):
            self._outgoing(node, effect.payload)
            self._sent_now += self._broadcast(now, node, effect.payload)
        elif isinstance(effect, ev.SendTo):
            self._outgoing(node, effect.payload)
            self._sent_now += self._send(now, node, effect.peer, effect.payload)
        elif isinstance(effect, ev.SetTimer):
            deadline = max(now, node.clock.to_global(effect.deadline_ms))
            self.queue.push(deadline, Alarm(node.index, node.generation, effect.timer))

    def _issue(self, now: int, node: SimNode, write: DurableWrite) -> None:
        """Hand `write` to the store now; it is durable when its sync returns."""
        disk, store = node.disk, node.store
        assert disk is not None and store is not None
        if node.crash_after is not None:
            if node.crash_after <= 0:
                node.executor.abandon()  # the write never started: nothing of it is on disk
                self._crash(now, node, f"before writing {write_name(write)}")
                return
            node.crash_after -= 1
        disk.begin_call()
        try:
            if isinstance(write, ev.PersistSignState):
                store.save_sign_state(write.data)
            else:
                store.save_height(write.record)
        except StoreError as exc:
            raise ReplicaCrash(f"{node.name}'s store refused {write_name(write)}: {exc}") from exc
        finally:
            waits = disk.end_call()
        cut = node.power_cut_at
        if cut is not None and node.executor.writes >= cut:
            self._crash(now, node, f"while writing {write_name(write)}", power=True)
        elif waits:
            latency = self._sync_latency_ms(node)
            self.queue.push(
                now + latency, Synced(node.index, node.generation, node.executor.ticket)
            )
        else:
            self._durable(now, node, node.executor.completed())

    def _sync_latency_ms(self, node: SimNode) -> int:
        base = self.config.disk_sync_ms
        jitter = int(self.disk_rng.expovariate(1.0 / base)) if base else 0
        return (base + jitter) * node.disk_slowdown

    def _on_synced(self, now: int, item: Synced) -> None:
        node = self.nodes[item.dst]
        stale = node.generation != item.generation or node.executor.ticket != item.ticket
        if stale or node.status is _DOWN or node.executor.in_flight is None:
            return
        assert node.disk is not None
        node.disk.complete_call()
        if node.disk.lying:
            node.disk.writeback(self.disk_rng)
        write = node.executor.completed()
        self._durable(now, node, write)
        self._sent_now = 0
        self._pump(now, node)  # a paused node resumes its plan when it resumes (see _resume)
        sent = f"; sent {self._sent_now}" if self._sent_now else ""
        height, round_, step = node.view()
        self.trace.emit(now, node.name, height, round_, step, "synced", write_name(write) + sent)

    def _durable(self, now: int, node: SimNode, write: DurableWrite) -> None:
        """`write` is durable: now the checkers may count on it."""
        if isinstance(write, ev.PersistSignState):
            if node.correct:
                self.checker.on_persist(node.index, write.data)
        else:
            self._committed(now, node, write)

    # ------------------------------------------------------------ crashes and restarts

    def _lose(self, now: int, node: SimNode, power: bool) -> str:
        """Crash `node` (its machine too, with `power`); returns what the disk kept."""
        assert node.disk is not None
        write = node.executor.in_flight
        call_end = node.disk.committed
        report = node.crash(self.disk_rng, power=power)
        if isinstance(write, ev.CommitBlock) and report.kept >= call_end:
            self._committed(now, node, write)  # the height in flight reached the disk whole
        return report.describe()

    def _reopen(self, now: int, node: SimNode) -> bool:
        """Restart `node` from its disk; False if the store or replica refused (it stays down)."""
        refusal = node.restart(self.world)
        crash = node.last_crash
        what = crash.describe() if crash is not None else "crash"
        if refusal is not None:
            self._count("refused restart")
            self.trace.emit(now, node.name, None, None, "down", "refused", refusal)
            if node.correct:
                raise Violation(
                    Outcome.CRASH,
                    f"{node.name} refused to restart after an in-model {what}: {refusal}",
                )
            return False
        assert node.store is not None
        forked = bool(self.checker.forks)
        problems = self.recovery.check(
            node.index,
            node.store,
            crash,
            durable_height=self.checker.last_height.get(node.index, 0),
            decided={} if forked else self.checker.decided,
            app_hashes={} if forked else self.checker.app_hashes,
        )
        if problems:
            if node.correct:
                raise Violation(
                    Outcome.SAFETY,
                    f"recovery of {node.name} after a {what}: " + "; ".join(problems),
                )
            self._count("unsafe recovery (faulty)")
        return True

    # ------------------------------------------------------------ storage faults

    def _storage_fault(self, now: int, fault: Fault, starting: bool) -> None:
        """A power cut (at once or during the node's k-th next durable write, restarted at
        the fault's end) or a slow disk (syncs `slowdown` times longer)."""
        node = self.nodes[fault.nodes[0]]
        if fault.mode == "slow":
            node.disk_slowdown = fault.slowdown if starting else 1
            return
        if starting and node.status is not Status.DOWN:
            if fault.effect_index == 0:
                self._crash(now, node, "at once", power=True)
            else:
                node.power_cut_at = node.executor.writes + fault.effect_index
        elif not starting:
            if node.status is not Status.DOWN and node.power_cut_at is not None:
                self._crash(now, node, "before restart", power=True)
            if node.status is Status.DOWN:
                self._restart(now, node)
