"""The sans-IO validator replica: one object both drivers feed with events and drain of effects.

Theory of operation. `Replica.handle(event, now_ms)` takes a peer message (bytes), a timer, a
client transaction or a peer (dis)connection and returns effects the driver must execute in
order: `PersistSignState` and `CommitBlock` are durable writes that precede whatever follows
them, so no signature leaves before the sign state guarding it is synced, and nothing that
depends on a block is sent before the block is stored. Around the consensus core (Algorithm 1)
the replica adds what the paper assumes: blocks (built from the mempool, judged by a
deterministic validity check, executed through the `Application` on decision), gossip (status
exchange, re-sending our own messages, answering round requests), transaction gossip, catch-up
from peers' committed blocks, evidence, and caps on everything a peer can make us hold.

Errors split as in h11: `ReplicaStartError` and `ValueError` mean the caller misused the API
(a broken store, a bad call); a misbehaving peer only ever yields `PeerMisbehaved` effects.
"""

from __future__ import annotations

__all__ = ["Replica", "ReplicaStartError", "ReplicaStatus"]


import attrs

from consensus.core import ConsensusCore
from consensus.crypto import ED25519, SignatureScheme, Signer
from consensus.events import (
    TimeoutElapsed,
)
from consensus.interfaces import Application, BlockExecution, Mempool, Store
from consensus.messages import (
    BlockId,
    Proposal,
    Step,
    ValidatorSet,
)
from consensus.replica import events as ev
from consensus.replica import serving
from consensus.replica.base import (
    BLOCK_TIME_TIMER,
    CATCHUP_TIMER,
    EMPTY_BLOCK_TIMER,
    MAX_CACHED_BLOCKS,
    STATUS_TIMER,
    TXS_TIMER,
)
from consensus.replica.block import Block
from consensus.replica.catchup import CatchUp
from consensus.replica.chain import ChainTip
from consensus.replica.config import ReplicaConfig
from consensus.replica.decoded import DecodeMemo
from consensus.replica.evidence import EvidencePool
from consensus.replica.gossip import FutureBuffer, PeerTable, SeenCache
from consensus.replica.inbound import Inbound
from consensus.replica.kept import Keeping, Kept
from consensus.replica.progress import Progress
from consensus.replica.startup import ReplicaStartError, initialize_store, restore
from consensus.replica.txgossip import TxGossip
from consensus.replica.wire import (
    StatusMsg,
    encode_wire,
)


@attrs.frozen
class ReplicaStatus:
    """A snapshot for APIs and checkers."""

    height: int
    round: int
    step: Step
    last_committed_height: int
    last_block_id: BlockId
    app_hash: bytes
    peers: tuple[bytes, ...]
    catching_up: bool
    mempool_txs: int
    pending_evidence: int


class Replica(Inbound, Progress, TxGossip, Keeping):
    """A validator: consensus core + application + mempool + gossip + catch-up. Use `open`."""

    def __init__(
        self,
        *,
        chain_id: str,
        validators: ValidatorSet,
        signer: Signer | None,
        scheme: SignatureScheme,
        app: Application,
        mempool: Mempool,
        store: Store,
        config: ReplicaConfig,
        core: ConsensusCore,
        tip: ChainTip,
        pool: EvidencePool,
        kept: Kept | None = None,
        decoded: DecodeMemo | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.validators = validators
        self.scheme = scheme
        self.config = config
        self._signer = signer
        self._key = None if signer is None else signer.public_key
        self._app = app
        self._mempool = mempool
        self._store = store
        self._core = core
        self._tip = tip
        self._pool = pool
        self._decoded = decoded
        self._peers = PeerTable(validators, self._key)
        self._future = FutureBuffer(config.max_buffered_per_peer)
        self._seen = SeenCache(config.tx_seen_cache_size)
        self._catchup = CatchUp(
            max_batch=config.max_catchup_batch, retry_ms=config.catchup_retry_ms
        )
        self._blocks: dict[BlockId, tuple[Block, bytes]] = {}
        self._executions: dict[BlockId, BlockExecution] = {}
        self._early: dict[BlockId, int] = {}
        self._unsent: dict[BlockId, Proposal] = {}  # own proposals whose block we lack
        self._fetch_after: dict[int, tuple[int, set[bytes]]] = {}  # round -> (until, asked)
        self._tick_view: tuple[int, int] | None = None  # (height, round) at the last status tick
        self._tx_batch: list[bytes] = []
        self._tx_timer_armed = False
        self._waiting_since_ms: int | None = None  # height start deferred (no empty blocks)
        self._kept = kept if kept is not None else Kept()  # restored; used once (kept.py)
        self._started = False
        self._core_checked: tuple[ConsensusCore, int] | None = None  # (core, version) checked

    # ------------------------------------------------------------------ construction

    @staticmethod
    def initialize_store(store: Store) -> None:
        """Give a brand-new store its first sign state; see `startup.initialize_store`."""
        initialize_store(store)

    @classmethod
    def open(
        cls,
        *,
        chain_id: str,
        validators: ValidatorSet,
        signer: Signer | None,
        app: Application,
        mempool: Mempool,
        store: Store,
        scheme: SignatureScheme = ED25519,
        config: ReplicaConfig | None = None,
        genesis_time_ms: int = 0,
        decoded: DecodeMemo | None = None,
    ) -> Replica:
        """A replica resuming from `store` (whose committed state `app` already reflects).

        `genesis_time_ms` is the chain's time at height 0 (the genesis document's): block 1's
        time must exceed it. `decoded` is a memo of decoded peer bytes that replicas in one
        process may share (`consensus.replica.decoded`); None decodes every message afresh.
        Raises ReplicaStartError if the store lacks a consistent sign state.
        """
        config = ReplicaConfig() if config is None else config
        if type(genesis_time_ms) is not int or genesis_time_ms < 0:
            raise ValueError(f"genesis_time_ms must be an int >= 0, got {genesis_time_ms!r}")
        restored = restore(store, app, chain_id, config, genesis_time_ms)
        core = ConsensusCore(
            chain_id=chain_id,
            validators=validators,
            signer=signer,
            scheme=scheme,
            timeouts=config.timeouts,
            sign_state=restored.sign_state,
            bugs=config.bugs,
        )
        return cls(
            chain_id=chain_id,
            validators=validators,
            signer=signer,
            scheme=scheme,
            app=app,
            mempool=mempool,
            store=store,
            config=config,
            core=core,
            tip=restored.tip,
            pool=restored.pool,
            kept=restored.kept,
            decoded=decoded,
        )

    # ------------------------------------------------------------------ queries

    @property
    def core(self) -> ConsensusCore:
        return self._core

    @property
    def height(self) -> int:
        """The height being decided (last committed + 1)."""
        return self._tip.height + 1

    @property
    def round(self) -> int:
        return self._core.round

    @property
    def step(self) -> Step:
        return self._core.step

    @property
    def last_committed_height(self) -> int:
        return self._tip.height

    @property
    def tip(self) -> ChainTip:
        return self._tip

    def holds_block(self, block_id: BlockId) -> bool:
        """Whether this height's block `block_id` is in memory here (checkers diagnose stalls)."""
        return block_id in self._blocks

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(
            height=self.height,
            round=self._core.round,
            step=self._core.step,
            last_committed_height=self._tip.height,
            last_block_id=self._tip.block_id,
            app_hash=self._app.app_hash,
            peers=tuple(self._peers.connected()),
            catching_up=self._peers.highest_committed() > self._tip.height + 1,
            mempool_txs=len(self._mempool),
            pending_evidence=len(self._pool),
        )

    def check_invariants(self) -> None:
        """Assert our own invariants (tests and the simulator call this after every event)."""
        core, tip_height, config = self._core, self._tip.height, self.config
        # The core's own invariants are a function of its state, which only its entry points
        # change: re-check them whenever it took an event since the last check (nearly every
        # vote or proposal), and not after events that never reached it (status, stale timers).
        checked = (core, core.version)
        if checked != self._core_checked:
            core.check_invariants()
            self._core_checked = checked
        assert self._app.height == tip_height, "application and tip disagree"
        # A core waiting for transactions may lag: a restart puts it at its sign state's
        # height, and catch-up can commit several heights before it starts again.
        core_height = core.height
        assert core_height <= tip_height + 1, "core ahead of the chain"
        if not self._waiting():
            assert core_height == tip_height + 1, "core not at the next height"
        assert len(self._blocks) <= MAX_CACHED_BLOCKS + 1
        assert len(self._executions) <= MAX_CACHED_BLOCKS + 1
        assert not self._early or self._early.keys() <= self._blocks.keys()
        assert len(self._future) <= config.max_buffered_per_peer * len(self.validators.validators)
        assert len(self._seen) <= config.tx_seen_cache_size
        assert len(self._pool) <= config.max_pending_evidence
        assert len(self._catchup) <= config.max_catchup_batch
        assert len(self._unsent) <= MAX_CACHED_BLOCKS

    # ------------------------------------------------------------------ events

    def start(self, now_ms: int) -> list[ev.ReplicaEffect]:
        """Begin (or resume) at the height after the last committed one."""
        if self._started:
            raise ValueError("replica already started")
        self._started = True
        out: list[ev.ReplicaEffect] = [
            ev.SetTimer(now_ms + self.config.status_interval_ms, STATUS_TIMER)
        ]
        signed = self._core.sign_state.last_signed
        resuming = signed is not None and signed.height == self.height  # mid-height: go on
        out += self._begin_height(now_ms, force=resuming)
        return out

    def handle(self, event: ev.ReplicaEvent, now_ms: int) -> list[ev.ReplicaEffect]:
        """Process one event; return the effects to execute, in order."""
        if not self._started:
            raise ValueError("call start() before handle()")
        if isinstance(event, ev.MessageReceived):
            return self._on_payload(event.peer, event.payload, now_ms)
        if isinstance(event, ev.TimerFired):
            return self._on_timer(event.timer, now_ms)
        if isinstance(event, ev.TxSubmitted):
            return self._on_client_tx(event.tx, now_ms)
        if isinstance(event, ev.PeerConnected):
            return self._on_connect(event.peer, now_ms)
        if isinstance(event, ev.PeerDisconnected):
            self._peers.disconnect(event.peer)
            self._catchup.peer_gone(event.peer)
            return []
        raise ValueError(f"not a replica event: {event!r}")

    def _status(self) -> StatusMsg:
        return serving.make_status(self._core, self._peers, self._tip.height, self.height)

    # ------------------------------------------------------------------ timers and peers

    def _on_timer(self, timer: ev.Timer, now_ms: int) -> list[ev.ReplicaEffect]:
        if isinstance(timer, ev.ConsensusTimer):
            if timer.height != self.height or self._core.height != self.height:
                return []
            event = TimeoutElapsed(timer.height, timer.round, timer.step)
            return self._drive(self._core.handle(event, now_ms), now_ms, None)
        if timer == STATUS_TIMER:
            out: list[ev.ReplicaEffect] = [ev.BroadcastPayload(encode_wire(self._status()))]
            out += self._request_blocks(now_ms)
            out += self._gossip_tick(now_ms)
            out.append(ev.SetTimer(now_ms + self.config.status_interval_ms, STATUS_TIMER))
            return out
        if timer == TXS_TIMER:
            self._tx_timer_armed = False
            return self._flush_txs()
        if timer == CATCHUP_TIMER:
            return self._request_blocks(now_ms)
        if timer == BLOCK_TIME_TIMER:
            return self._answer_early(now_ms)
        if timer == EMPTY_BLOCK_TIMER:
            if self._waiting_since_ms is None:
                return []
            deadline = self._waiting_since_ms + self.config.empty_block_interval_ms
            if now_ms < deadline:  # a driver fired it early: the wait still ends at its deadline
                return [ev.SetTimer(deadline, EMPTY_BLOCK_TIMER)]
            return self._begin_height(now_ms, force=True)
        raise ValueError(f"unknown timer {timer!r}")

    def _on_connect(self, peer: bytes, now_ms: int) -> list[ev.ReplicaEffect]:
        if not self._peers.is_validator(peer):
            return []
        self._peers.connect(peer)
        out: list[ev.ReplicaEffect] = [ev.SendTo(peer, encode_wire(self._status()))]
        if self._core.height == self.height and not self._waiting():
            for msg in serving.own_messages(self._core, self._block_bytes):
                out.append(ev.SendTo(peer, encode_wire(msg)))
        return out + self._relay_pending(peer)
