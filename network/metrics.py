"""Prometheus metrics of one validator, in a registry of its own.

Each `NodeMetrics` owns a `CollectorRegistry`, so several nodes can live in one process (the
tests run four) without their collectors clashing in prometheus-client's global registry. The
node calls the small methods below at the points it already knows the numbers; the API serves
`render()` at `/metrics`. Updating a collector is a lock and an addition. Gauges that are a
function of "now" (time since the last commit, peers by state, store usage) are refreshed by
the callbacks registered with `on_scrape`, run at the start of each `render()`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_ROUND_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16)
_INTERVAL_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
_STEPS = ("propose", "prevote", "precommit", "commit")
PEER_STATES = ("connected", "connecting", "backoff")
TX_SOURCES = ("api", "peer")
SIGNATURE_KINDS = ("consensus", "tx")


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
            "depositnet_signature_verifications",
            "Signatures verified (memoised verdicts not counted)",
            ["kind"],
            registry=r,
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
        self._interval = Histogram(
            "depositnet_block_interval_seconds",
            "Time between two successive commits seen by this node",
            buckets=_INTERVAL_BUCKETS,
            registry=r,
        )
        self._latency = Histogram(
            "depositnet_tx_commit_latency_seconds",
            "From this node admitting a tx (API or peer gossip) to its commit here",
            ["source"],
            buckets=_INTERVAL_BUCKETS,
            registry=r,
        )
        self._since_commit = Gauge(
            "depositnet_seconds_since_last_commit",
            "Seconds since this node last committed a block (since start if none yet)",
            registry=r,
        )
        self._peer_states = Gauge(
            "depositnet_peers", "Peers by connection state", ["state"], registry=r
        )
        self._store_used = Gauge(
            "depositnet_store_used_bytes", "Bytes in use in the LMDB map", registry=r
        )
        self._store_map = Gauge(
            "depositnet_store_map_size_bytes",
            "The LMDB map size (most bytes it can hold)",
            registry=r,
        )
        self._disk_free = Gauge(
            "depositnet_data_dir_free_bytes",
            "Free bytes on the file system of the data directory",
            registry=r,
        )
        self._scrape_hooks: list[Callable[[], None]] = []
        # Export every label value from the start, so dashboards and alerts see zeros.
        for step in _STEPS:
            self._step.labels(step=step)
        for kind in SIGNATURE_KINDS:
            self._sigs.labels(kind=kind)
        for source in TX_SOURCES:
            self._latency.labels(source=source)
        for state in PEER_STATES:
            self._peer_states.labels(state=state)

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

    def sig_verified(self, n: int = 1, kind: str = "consensus") -> None:
        """`n` signatures of `kind` (consensus: votes, proposals; tx: transactions) checked."""
        if n < 0:
            raise ValueError("a count of verifications cannot be negative")
        self._sigs.labels(kind=kind).inc(n)

    def block_interval(self, seconds: float) -> None:
        self._interval.observe(max(0.0, seconds))

    def tx_latency(self, source: str, seconds: float) -> None:
        """A tx this node admitted from `source` (api/peer) committed `seconds` later."""
        self._latency.labels(source=source).observe(max(0.0, seconds))

    def since_last_commit(self, seconds: float) -> None:
        self._since_commit.set(max(0.0, seconds))

    def peer_states(self, counts: Mapping[str, int]) -> None:
        """Peers by state; states not named are 0."""
        for state in PEER_STATES:
            self._peer_states.labels(state=state).set(counts.get(state, 0))

    def store_usage(self, used_bytes: int, map_size_bytes: int, disk_free_bytes: int) -> None:
        self._store_used.set(used_bytes)
        self._store_map.set(map_size_bytes)
        self._disk_free.set(disk_free_bytes)

    def on_scrape(self, refresh: Callable[[], None]) -> None:
        """Run `refresh` before every `render()` (for gauges that depend on the time)."""
        self._scrape_hooks.append(refresh)

    def api_response(self, status: int) -> None:
        """The API answered with HTTP `status` (counted by class: 2xx, 4xx, 5xx)."""
        self._api.labels(status=f"{status // 100}xx").inc()

    # ------------------------------------------------------------ reading

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        for refresh in self._scrape_hooks:
            refresh()
        data: bytes = prometheus_client.generate_latest(self.registry)
        return data

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's current value (for tests and the status table), None if absent."""
        result = self.registry.get_sample_value(name, labels or {})
        return None if result is None else float(result)
