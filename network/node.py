"""One validator process: the sans-IO replica driven by trio, TCP peers, LMDB and the client API.

Theory of operation. Every input (a peer frame, a timer, a client transaction, a peer coming or
going) becomes one replica event, handled synchronously by `_dispatch`. Trio is single-threaded
and `_dispatch` never awaits, so no two events interleave and the replica needs no locks. The
effects of each event are queued to the `EffectExecutor`, one task that executes them strictly
in the order produced, awaiting each synced LMDB write in a worker thread: a `PersistSignState`
is durable before any later effect runs (so before the vote it guards is even queued to a
peer), and a `CommitBlock` is durable before anything of the next height leaves. Meanwhile the
replica keeps handling events, so a disk sync no longer stalls the node. A SIGKILL at any
instant is therefore safe by construction; SIGINT/SIGTERM cancel the nursery, which waits for
a write in progress, then closes connections and the store.

Services (executor, transport, timers, inbound pump, API) are `run(..., task_status=...)`
tasks of one nursery; if one fails the whole node stops with its error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import attrs
import trio

from consensus import codec
from consensus.crypto import ED25519, Ed25519Signer, VerifyMemo
from consensus.interfaces import TxAdmission
from consensus.messages import ValidatorSet
from consensus.replica import events as ev
from consensus.replica.config import ReplicaConfig
from consensus.replica.replica import Replica
from ledger.app import LedgerApp
from ledger.genesis import Genesis
from ledger.store_growth import GrowthPolicy
from ledger.store_lmdb import LmdbStore, StoreInUseError
from network.addresses import PeerAddress
from network.api import create_app
from network.api_limits import ApiLimits
from network.api_server import serve_api
from network.config import TransportConfig
from network.executor import EffectExecutor
from network.ledger_view import LedgerNodeView
from network.metrics import NodeMetrics
from network.node_metrics import CountingScheme, NodeInstruments, TimedMempool
from network.peers import PeerManager
from network.start_errors import bind_failure
from network.timers import TimerQueue
from network.txprecheck import TxPrecheck

log = logging.getLogger(__name__)

INBOUND_QUEUE_FRAMES = 4096
"""Frames received from all peers and not yet handled; the transport blocks readers beyond."""
VOTE_VERDICTS_KEPT = 8192
"""Consensus signature verdicts a node remembers (about 2 MiB): the votes of the last hundreds
of heights at 4-16 validators, which is what recurs (a vote comes back in the next block's
last commit, and in the recent blocks a lagging peer is served)."""


def wall_clock_ms() -> int:
    """The replica's clock: wall time, so that block timestamps mean something to people."""
    return time.time_ns() // 1_000_000


@attrs.frozen
class NodeSettings:
    """Everything a validator needs besides genesis and its key (built from the TOML config)."""

    data_dir: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    peers: tuple[PeerAddress, ...] = ()
    api_host: str = "127.0.0.1"
    api_port: int | None = 0  # None: no client API
    replica: ReplicaConfig = attrs.field(factory=ReplicaConfig)
    mempool_max_txs: int = 10_000
    mempool_max_bytes: int = 8 << 20
    map_size_bytes: int = 1 << 30  # the initial map; it grows by store_growth_step when full
    store_growth_step: int = 1 << 30
    store_min_free_disk: int = 1 << 30  # growth that would leave less free disk is refused
    api_limits: ApiLimits = attrs.field(factory=ApiLimits)
    transport: TransportConfig = attrs.field(factory=TransportConfig)
    allowed_peers: tuple[bytes, ...] = ()  # non-validator keys that may connect (observers)


class NodeStartError(Exception):
    """The node cannot start safely from what is on disk."""


def store_path(settings: NodeSettings) -> Path:
    return settings.data_dir / "store"


def store_growth(settings: NodeSettings) -> GrowthPolicy:
    return GrowthPolicy(
        growth_step=settings.store_growth_step, min_free_disk=settings.store_min_free_disk
    )


def init_store(settings: NodeSettings) -> None:
    """Create a new validator's store with its first sign state (`depositnet init node`)."""
    path = store_path(settings)
    if path.exists():
        raise NodeStartError(f"{path} already exists: a validator's store is never re-created")
    path.parent.mkdir(parents=True, exist_ok=True)
    with LmdbStore.open(
        path, map_size=settings.map_size_bytes, growth=store_growth(settings)
    ) as store:
        Replica.initialize_store(store)


def open_store(settings: NodeSettings) -> LmdbStore:
    """Open the node's existing store; a missing one is an error, never silently re-created:
    a validator restarted on an empty store could sign again what it signed before."""
    path = store_path(settings)
    if not path.exists():
        raise NodeStartError(
            f"no store at {path}: for a new validator run `depositnet init node --config "
            "FILE` once; for an existing one, restore its data directory"
        )
    try:
        return LmdbStore.open(
            path, map_size=settings.map_size_bytes, create=False, growth=store_growth(settings)
        )
    except StoreInUseError:
        raise NodeStartError(
            f"the store at {path} is in use by another process: this validator is probably "
            "already running (only one process may open a store)"
        ) from None


def _raise_if_bind_failed(exc: BaseException, setting: str, host: str, port: int) -> None:
    """Turn a listen socket that could not bind into one NodeStartError naming the setting."""
    message = bind_failure(exc, setting, host, port)
    if message is not None:
        raise NodeStartError(message) from None


@attrs.frozen
class NodeAddresses:
    """Where a started node listens (ports resolved when 0 was asked for)."""

    p2p_port: int
    api_port: int | None


class ValidatorNode:
    """A validator: run it with `await nursery.start(node.run)`."""

    def __init__(
        self,
        *,
        genesis: Genesis,
        node_key: Ed25519Signer,
        settings: NodeSettings,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.genesis = genesis
        self.node_key = node_key
        self.settings = settings
        self.validators: ValidatorSet = genesis.validator_set()
        self.metrics = NodeMetrics()
        self.instruments = NodeInstruments(self.metrics)
        self.metrics.on_scrape(self._refresh_metrics)
        self._store: LmdbStore | None = None
        self._clock_ms = clock_ms
        self._timers = TimerQueue(clock_ms, self._on_timer)
        self._replica: Replica | None = None
        self._view: LedgerNodeView | None = None
        self._peers: PeerManager | None = None
        self._precheck: TxPrecheck | None = None
        self._executor: EffectExecutor | None = None
        self._execution_s: dict[int, float] = {}  # height -> replica time of its commit event

    @property
    def replica(self) -> Replica:
        if self._replica is None:
            raise RuntimeError("the node is not running")
        return self._replica

    @property
    def executor(self) -> EffectExecutor:
        if self._executor is None:
            raise RuntimeError("the node is not running")
        return self._executor

    @property
    def view(self) -> LedgerNodeView:
        if self._view is None:
            raise RuntimeError("the node is not running")
        return self._view

    async def run(
        self, *, task_status: trio.TaskStatus[NodeAddresses] = trio.TASK_STATUS_IGNORED
    ) -> None:
        settings = self.settings
        if not self.validators.is_member(self.node_key.public_key):  # logged once logs are set up
            log.warning("this node's key is not a validator in genesis: it will only observe")
        store = open_store(settings)
        self._store = store
        try:
            metrics = self.metrics
            tx_scheme = CountingScheme(ED25519, lambda: metrics.sig_verified(kind="tx"))
            app = LedgerApp.from_store(self.genesis, store, tx_scheme)
            mempool = TimedMempool(
                app,
                on_admit=self.instruments.admitted,
                max_count=settings.mempool_max_txs,
                max_bytes=settings.mempool_max_bytes,
            )
            self._replica = Replica.open(
                chain_id=self.genesis.chain_id,
                validators=self.validators,
                signer=self.node_key,
                app=app,
                mempool=mempool,
                store=store,
                config=settings.replica,
                genesis_time_ms=self.genesis.genesis_time_ms,
                # A vote checked on arrival is checked again inside the next block's last
                # commit (and when catch-up serves recent heights): remember the verdicts.
                scheme=VerifyMemo(
                    CountingScheme(ED25519, metrics.sig_verified), max_entries=VOTE_VERDICTS_KEPT
                ),
            )
            self._view = LedgerNodeView(self, app, mempool, store)
            self._executor = EffectExecutor(
                store,
                send=self._send,
                broadcast=self._broadcast,
                arm_timer=self._timers.arm,
                committed=self._committed,
                other=self._report,
            )
            send, receive = trio.open_memory_channel[tuple[bytes, bytes]](INBOUND_QUEUE_FRAMES)
            # Start the replica before any peer can connect: what it broadcasts now reaches
            # nobody, and it re-sends its current-height messages to each peer that connects.
            self.executor.submit(self.replica.start(self._clock_ms()))
            async with trio.open_nursery() as nursery:
                await nursery.start(self.executor.run)
                self._peers = PeerManager(
                    node_key=self.node_key,
                    chain_id=self.genesis.chain_id,
                    listen_host=settings.listen_host,
                    listen_port=settings.listen_port,
                    peers=settings.peers,
                    is_allowed=self._is_allowed,
                    inbound=send,
                    on_connect=self._on_connect,
                    on_disconnect=self._on_disconnect,
                    **settings.transport.peer_manager_options(),
                )
                try:
                    p2p_port = await nursery.start(self._peers.run)
                except (OSError, BaseExceptionGroup) as exc:
                    _raise_if_bind_failed(
                        exc, "listen_address", settings.listen_host, settings.listen_port
                    )
                    raise
                await nursery.start(self._timers.run)
                self._precheck = TxPrecheck(
                    app.verified,
                    mempool,
                    dispatch=self._dispatch_payload,
                    wait_for_room=self.executor.wait_for_room,
                )
                await nursery.start(self._precheck.run)
                nursery.start_soon(self._pump_inbound, receive)
                api_port = None
                if settings.api_port is not None:
                    api = create_app(self.view, limits=settings.api_limits, metrics=self.metrics)
                    try:
                        api_port = await nursery.start(
                            serve_api, api, settings.api_host, settings.api_port
                        )
                    except (OSError, BaseExceptionGroup) as exc:
                        _raise_if_bind_failed(
                            exc, "api_address", settings.api_host, settings.api_port
                        )
                        raise
                log.info(
                    "validator started",
                    extra={"height": self.replica.height, "p2p_port": p2p_port},
                )
                task_status.started(NodeAddresses(p2p_port, api_port))
        finally:
            self._peers = None
            self._precheck = None
            self._store = None
            store.close()

    # ------------------------------------------------------------------ event loop

    def _dispatch(self, event: ev.ReplicaEvent) -> list[ev.ReplicaEffect]:
        """Handle one event and queue its effects behind all earlier ones; return them."""
        started = time.perf_counter()
        effects = self.replica.handle(event, self._clock_ms())
        handled_s = time.perf_counter() - started
        decided = []
        for effect in effects:
            if isinstance(effect, ev.CommitBlock):
                self._execution_s[effect.record.height] = handled_s
                decided.append(effect.record.height)
        replica = self.replica
        self.instruments.after_event(replica.height, replica.round, replica.step, decided)
        self.executor.submit(effects)
        return effects

    def _send(self, peer: bytes, payload: bytes) -> None:
        if self._peers is not None:
            self._peers.send_nowait(peer, payload)

    def _broadcast(self, payload: bytes) -> None:
        if self._peers is not None:
            self._peers.broadcast_nowait(payload)

    def _report(self, effect: ev.ReplicaEffect) -> None:
        """Effects that only inform: evidence and misbehaving peers are logged and counted."""
        if isinstance(effect, ev.EvidenceFound):
            self.metrics.evidence()
            log.warning(
                "equivocation evidence",
                extra={
                    "height": effect.evidence.vote_a.height,
                    "round": effect.evidence.vote_a.round,
                    "peer": effect.evidence.vote_a.validator.hex(),
                },
            )
        elif isinstance(effect, ev.PeerMisbehaved):
            log.info("peer misbehaved: %s", effect.reason, extra={"peer": effect.peer.hex()})
        # TxAdmitted went back to the caller of _dispatch (the API) already.

    def _committed(self, effect: ev.CommitBlock, store_s: float) -> None:
        """A block is durable: update metrics and wake API waiters."""
        height = effect.record.height
        commit = codec.decode_commit(effect.record.commit)
        self.metrics.block_committed(
            height,
            rounds=commit.round + 1,
            txs=len(effect.results),
            exec_s=self._execution_s.pop(height, 0.0),
            store_s=store_s,
        )
        self.instruments.committed(height, [r.tx_id for r in effect.results], self.view.mempool)
        self.view.height_committed(height)
        status = self.replica.status()
        self.metrics.mempool(status.mempool_txs, self.view.mempool.size_bytes)
        self.metrics.catching_up(status.catching_up)
        log.debug(
            "committed", extra={"height": height, "round": commit.round, "txs": len(effect.results)}
        )

    def _is_allowed(self, key: bytes) -> bool:
        return self.validators.is_member(key) or key in self.settings.allowed_peers

    def _on_timer(self, timer: ev.Timer) -> None:
        self._dispatch(ev.TimerFired(timer))

    def _on_connect(self, peer: bytes) -> None:
        self._dispatch(ev.PeerConnected(peer))
        self._report_peers()

    def _on_disconnect(self, peer: bytes) -> None:
        self._dispatch(ev.PeerDisconnected(peer))
        self._report_peers()

    def _report_peers(self) -> None:
        if self._peers is not None:
            self.metrics.peers(len(self._peers.connected_peers()))

    async def _pump_inbound(self, receive: trio.MemoryReceiveChannel[tuple[bytes, bytes]]) -> None:
        async with receive:
            async for peer, payload in receive:
                precheck = self._precheck
                if precheck is not None and precheck.offer(peer, payload):
                    continue  # a tx batch: signature-checked off the event loop first
                self._dispatch(ev.MessageReceived(peer, payload))
                await self.executor.wait_for_room()

    def _dispatch_payload(self, peer: bytes, payload: bytes) -> None:
        self._dispatch(ev.MessageReceived(peer, payload))

    # ------------------------------------------------------------------ for the view

    def submit(self, tx: bytes) -> TxAdmission:
        self.instruments.source = "api"
        try:
            effects = self._dispatch(ev.TxSubmitted(tx))
        finally:
            self.instruments.source = "peer"
        for effect in effects:
            if isinstance(effect, ev.TxAdmitted):
                return effect.admission
        raise AssertionError("the replica answered a TxSubmitted without a TxAdmitted")

    def _refresh_metrics(self) -> None:
        """Before each scrape: the gauges that depend on now (no-op once stopped)."""
        store, peers = self._store, self._peers
        if store is not None and peers is not None:
            self.instruments.scrape(peers.peer_states, store.usage, self.settings.data_dir)

    def connected_peers(self) -> tuple[bytes, ...]:
        return () if self._peers is None else self._peers.connected_peers()
