"""Prometheus metrics of one validator, in a registry of its own.

Each `NodeMetrics` owns a `CollectorRegistry`, so several nodes can live in one process (the
tests run four) without their collectors clashing in prometheus-client's global registry. The
node calls the small methods below at the points it already knows the numbers; the API serves
`render()` at `/metrics`. Nothing here blocks or does I/O: updating a collector is a lock and an
addition.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROUND_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16)
_STEPS = ("propose", "prevote", "precommit", "commit")


class NodeMetrics:
    """The collectors of one node; method names say what happened, units end the names."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._height = Gauge("depositnet_height", "Last committed height", registry=r)
        self._rounds = Histogram(
            "depositnet_rounds_per_height",
            "Rounds needed to commit a height (1 = first round)",
            buckets=_ROUND_BUCKETS,
            registry=r,
        )
        self._step = Histogram(
            "depositnet_step_duration_seconds",
            "Time spent in a consensus step before leaving it",
            ["step"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self._txs = Counter("depositnet_committed_txs", "Transactions committed", registry=r)
        self._blocks = Counter("depositnet_committed_blocks", "Blocks committed", registry=r)
        self._mempool_txs = Gauge(
            "depositnet_mempool_txs", "Transactions in the mempool", registry=r
        )
        self._mempool_bytes = Gauge(
            "depositnet_mempool_bytes", "Bytes of transactions in the mempool", registry=r
        )
        self._peers = Gauge("depositnet_peers_connected", "Authenticated peers", registry=r)
        self._catching_up = Gauge(
            "depositnet_catching_up", "1 while fetching committed blocks from peers", registry=r
        )
        self._evidence = Counter(
            "depositnet_evidence_seen", "Equivocation evidence seen", registry=r
        )
        self._sigs = Counter(
            "depositnet_signature_verifications", "Signatures verified", registry=r
        )
        self._exec = Histogram(
            "depositnet_block_execution_seconds",
            "Time to execute a block's transactions",
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self._store = Histogram(
            "depositnet_store_commit_seconds",
            "Time to write a committed height to the store (synced)",
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self._api = Counter(
            "depositnet_api_responses", "HTTP API responses by status class", ["status"], registry=r
        )
        for step in _STEPS:  # export every step from the start, so dashboards see zeros
            self._step.labels(step=step)

    # ------------------------------------------------------------ what the node reports

    def block_committed(
        self, height: int, rounds: int, txs: int, exec_s: float, store_s: float
    ) -> None:
        """A block at `height` committed after `rounds` rounds (>= 1) carrying `txs` txs."""
        if height < 0 or rounds < 1 or txs < 0:
            raise ValueError("height >= 0, rounds >= 1 and txs >= 0 are required")
        self._height.set(height)
        self._rounds.observe(rounds)
        self._blocks.inc()
        self._txs.inc(txs)
        self._exec.observe(max(0.0, exec_s))
        self._store.observe(max(0.0, store_s))

    def step_entered(self, step: str, duration_s: float) -> None:
        """The node left `step` (propose/prevote/precommit/commit) after `duration_s`."""
        self._step.labels(step=step.lower()).observe(max(0.0, duration_s))

    def mempool(self, size: int, bytes: int) -> None:  # `bytes`: the name the node uses
        self._mempool_txs.set(size)
        self._mempool_bytes.set(bytes)

    def peers(self, n: int) -> None:
        self._peers.set(n)

    def catching_up(self, active: bool) -> None:
        self._catching_up.set(1 if active else 0)

    def evidence(self) -> None:
        self._evidence.inc()

    def sig_verified(self, n: int = 1) -> None:
        if n < 0:
            raise ValueError("a count of verifications cannot be negative")
        self._sigs.inc(n)

    def api_response(self, status: int) -> None:
        """The API answered with HTTP `status` (counted by class: 2xx, 4xx, 5xx)."""
        self._api.labels(status=f"{status // 100}xx").inc()

    # ------------------------------------------------------------ reading

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        data: bytes = prometheus_client.generate_latest(self.registry)
        return data

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's current value (for tests and the status table), None if absent."""
        result = self.registry.get_sample_value(name, labels or {})
        return None if result is None else float(result)
