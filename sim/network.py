"""The simulated network: per-link latency, loss, duplication, reordering and scheduled faults.

`route()` decides, for one message on one directed link, when it arrives: never (dropped),
once, or twice (duplicated). Latency per link is a fixed base plus an exponential part whose
mean differs per link; "reorder" adds occasional long delays so later messages overtake earlier
ones. Active faults cut links (partitions, symmetric or one way), hold a link's messages until
it unclogs (clogging), or drop one kind of message from some senders (filters). `heal()` ends
every fault and zeroes every rate: the liveness phase's fixed environment.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from sim.config import SimConfig
from sim.faults import Fault


@attrs.define
class NetworkStats:
    sent: int = 0
    delivered: int = 0
    dropped_loss: int = 0
    dropped_partition: int = 0
    dropped_filter: int = 0
    dropped_down: int = 0
    duplicated: int = 0
    clogged: int = 0


class Network:
    """Routes messages between `instances` endpoints under the current faults."""

    def __init__(self, config: SimConfig, instances: int, rng: random.Random) -> None:
        self._rng = rng
        self.instances = instances
        self.loss = config.loss
        self.duplicate = config.duplicate
        self.reorder = config.reorder
        self.stats = NetworkStats()
        self.active: list[Fault] = []
        self._links: dict[tuple[int, int], tuple[int, float]] = {}
        for a in range(instances):
            for b in range(instances):
                if a != b:
                    base = config.latency_min_ms + rng.randint(0, config.latency_min_ms)
                    mean = max(0.5, config.latency_mean_ms * rng.uniform(0.5, 2.0))
                    self._links[(a, b)] = (base, mean)

    # ------------------------------------------------------------ faults

    def start_fault(self, fault: Fault) -> None:
        if fault.kind in ("partition", "clog", "filter"):
            self.active.append(fault)

    def end_fault(self, fault: Fault) -> None:
        if fault in self.active:
            self.active.remove(fault)

    def heal(self) -> None:
        """End every network fault and stop every future one (loss, duplicates, reordering)."""
        self.active.clear()
        self.loss = self.duplicate = self.reorder = 0.0

    def cut(self, src: int, dst: int) -> bool:
        """True if a partition currently drops messages from `src` to `dst`."""
        for fault in self.active:
            if fault.kind == "partition" and _partition_blocks(fault, src, dst):
                return True
        return False

    def connected(self, a: int, b: int) -> bool:
        """Both directions open: what a TCP connection between `a` and `b` needs."""
        return not self.cut(a, b) and not self.cut(b, a)

    # ------------------------------------------------------------ delivery

    def route(self, src: int, dst: int, now_ms: int, kind: Callable[[], str]) -> tuple[int, ...]:
        """Arrival times of one message from `src` to `dst` sent at `now_ms` (empty: dropped).

        `kind` classifies the message lazily; it is only called while a filter is active.
        """
        self.stats.sent += 1
        held_until = now_ms
        for fault in self.active:
            if fault.kind == "partition":
                if _partition_blocks(fault, src, dst):
                    self.stats.dropped_partition += 1
                    return ()
            elif fault.kind == "filter":
                if src in fault.nodes and kind() == fault.message_kind:
                    self.stats.dropped_filter += 1
                    return ()
            elif fault.nodes == (src, dst):
                held_until = max(held_until, fault.end_ms)
        if held_until > now_ms:
            self.stats.clogged += 1
        rng = self._rng
        if self.loss and rng.random() < self.loss:
            self.stats.dropped_loss += 1
            return ()
        if not self.reorder and not self.duplicate:  # `_latency` inline: the common case
            base, mean = self._links[(src, dst)]
            return (held_until + base + int(rng.expovariate(1.0 / mean)),)
        first = held_until + self._latency(src, dst)
        if self.duplicate and rng.random() < self.duplicate:
            self.stats.duplicated += 1
            return (first, held_until + self._latency(src, dst))
        return (first,)

    def _latency(self, src: int, dst: int) -> int:
        base, mean = self._links[(src, dst)]
        delay = base + int(self._rng.expovariate(1.0 / mean))
        if self.reorder and self._rng.random() < self.reorder:
            delay += int(self._rng.uniform(0, 10 * mean))
        return delay


def _partition_blocks(fault: Fault, src: int, dst: int) -> bool:
    side_src = side_dst = -1
    for k, group in enumerate(fault.groups):
        if src in group:
            side_src = k
        if dst in group:
            side_dst = k
    if side_src == side_dst:
        return False
    if fault.asymmetric:
        return side_src == 1 and side_dst == 0
    return True
