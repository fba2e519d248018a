"""What the node driver measures around the pure replica, for `NodeMetrics`.

The replica has no clock of its own (consensus/ stays pure), so every duration here is taken
by the driver with a monotonic clock at the moments it already handles: after each event it
reads the replica's (height, round, step), and a change ends the previous step; a CommitBlock
effect starts the "commit" step, which ends when the block is durable. Signatures are counted
by wrapping the scheme the driver injects; submit-to-commit latency by wrapping the mempool the
driver builds, so both API submissions and gossiped transactions are seen where they are
admitted, without the replica knowing.
"""

from __future__ import annotations

import collections
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from consensus.crypto import SignatureScheme
from consensus.interfaces import TxAdmission
from consensus.messages import Step
from ledger.app import LedgerApp
from ledger.mempool import Mempool
from network.metrics import NodeMetrics

Clock = Callable[[], float]


class Pending(Protocol):
    """What `NodeInstruments.committed` reads of the mempool."""

    def __len__(self) -> int: ...

    def contains(self, tx_id: bytes) -> bool: ...


class CountingScheme:
    """A `SignatureScheme` that counts each verification it passes on (for the metric)."""

    def __init__(self, scheme: SignatureScheme, count: Callable[[], None]) -> None:
        self.scheme = scheme
        self._count = count

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        self._count()
        return self.scheme.verify(public_key, message, signature)


class TimedMempool(Mempool):
    """The ledger's mempool, telling `on_admit(tx_id)` about every transaction it accepts."""

    def __init__(
        self, app: LedgerApp, *, on_admit: Callable[[bytes], None], max_count: int, max_bytes: int
    ) -> None:
        super().__init__(app, max_count=max_count, max_bytes=max_bytes)
        self._on_admit = on_admit

    def add(self, tx: bytes, time_ms: int) -> TxAdmission:
        admission = super().add(tx, time_ms)
        if admission.accepted:
            self._on_admit(admission.tx_id)
        return admission


class NodeInstruments:
    """The driver-side clocks behind the step, latency, interval and scrape-time metrics."""

    def __init__(self, metrics: NodeMetrics, clock: Clock = time.monotonic) -> None:
        self.metrics = metrics
        self._clock = clock
        self._started = clock()
        self._last_commit: float | None = None
        self._step: tuple[int, int, Step] | None = None
        self._step_since = self._started
        self._decided: dict[int, float] = {}  # height -> when its CommitBlock was produced
        self._admitted: collections.OrderedDict[bytes, tuple[float, str]] = (
            collections.OrderedDict()
        )
        self.source = "peer"  # the node sets "api" while it dispatches a client submission

    # ------------------------------------------------------------ consensus steps

    def after_event(self, height: int, round_: int, step: Step, decided: Iterable[int]) -> None:
        """The replica handled an event and is now at (height, round, step); `decided` are the
        heights whose CommitBlock that event produced."""
        now = self._clock()
        for h in decided:
            self._decided[h] = now
        position = (height, round_, step)
        if position != self._step:
            if self._step is not None:
                self.metrics.step_entered(self._step[2].name, now - self._step_since)
            self._step, self._step_since = position, now

    # ------------------------------------------------------------ transactions and commits

    def admitted(self, tx_id: bytes) -> None:
        self._admitted[tx_id] = (self._clock(), self.source)

    def committed(
        self, height: int, tx_ids: Sequence[bytes], mempool: Pending, slack: int = 1024
    ) -> None:
        """Block `height` is durable with `tx_ids`. Admissions that left the mempool without
        committing here (expired) are forgotten once over `slack` of them accumulate."""
        now = self._clock()
        decided = self._decided.pop(height, None)
        if decided is not None:
            self.metrics.step_entered("commit", now - decided)
        if self._last_commit is not None:
            self.metrics.block_interval(now - self._last_commit)
        self._last_commit = now
        for tx_id in tx_ids:
            entry = self._admitted.pop(tx_id, None)
            if entry is not None:
                self.metrics.tx_latency(entry[1], now - entry[0])
        if len(self._admitted) > len(mempool) + slack:
            for tx_id in [t for t in self._admitted if not mempool.contains(t)]:
                del self._admitted[tx_id]

    # ------------------------------------------------------------ at scrape time

    def scrape(
        self,
        peer_states: Callable[[], dict[str, int]],
        store_usage: Callable[[], tuple[int, int]],
        data_dir: os.PathLike[str] | str,
    ) -> None:
        """Refresh the gauges that depend on "now" (called before each render)."""
        since = self._last_commit if self._last_commit is not None else self._started
        self.metrics.since_last_commit(self._clock() - since)
        self.metrics.peer_states(peer_states())
        used, map_size = store_usage()
        try:
            free = shutil.disk_usage(data_dir).free
        except OSError:
            free = 0
        self.metrics.store_usage(used, map_size, free)
