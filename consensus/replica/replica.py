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

from collections.abc import Sequence

import attrs

from consensus import codec
from consensus import events as ce
from consensus.codec import DecodeError
from consensus.commit import CommitError, verify_commit
from consensus.core import ConsensusCore
from consensus.crypto import ED25519, SignatureScheme, Signer
from consensus.events import (
    InputRejected,
    ProposalReceived,
    ProposalValueSupplied,
    TimeoutElapsed,
    ValidityVerdict,
    VoteReceived,
)
from consensus.interfaces import Application, HeightRecord, Mempool, Store
from consensus.messages import (
    BlockId,
    Commit,
    Proposal,
    SignState,
    Step,
    ValidatorSet,
    Vote,
    VoteType,
)
from consensus.replica import events as ev
from consensus.replica import serving
from consensus.replica.block import Block, block_id, decode_block, encode_block, tx_hash
from consensus.replica.catchup import CatchUp, Fetched
from consensus.replica.chain import ChainTip, build_block, check_block, tip_of
from consensus.replica.config import ReplicaConfig
from consensus.replica.evidence import EvidencePool, check_evidence
from consensus.replica.gossip import FutureBuffer, PeerTable, SeenCache
from consensus.replica.wire import (
    MAX_WIRE_BYTES,
    CommittedBlock,
    EvidenceMsg,
    GetBlocks,
    GetRound,
    ProposalMsg,
    StatusMsg,
    TxsMsg,
    VoteMsg,
    WireMessage,
    decode_wire,
    encode_wire,
)

STATUS_TIMER = ev.ReplicaTimer("status")
TXS_TIMER = ev.ReplicaTimer("txs")
CATCHUP_TIMER = ev.ReplicaTimer("catchup")
EMPTY_BLOCK_TIMER = ev.ReplicaTimer("empty_block")
MAX_CACHED_BLOCKS = 16


class ReplicaStartError(Exception):
    """The store cannot be resumed from safely (missing or inconsistent sign state...)."""


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


class Replica:
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
        self._peers = PeerTable(validators, self._key)
        self._future = FutureBuffer(config.max_buffered_per_peer)
        self._seen = SeenCache(config.tx_seen_cache_size)
        self._catchup = CatchUp(
            max_batch=config.max_catchup_batch, retry_ms=config.catchup_retry_ms
        )
        self._blocks: dict[BlockId, tuple[Block, bytes]] = {}
        self._unsent: dict[BlockId, Proposal] = {}  # own proposals whose block we lack
        self._fetch_after: dict[int, int] = {}  # round -> earliest time to ask again
        self._tx_batch: list[bytes] = []
        self._tx_timer_armed = False
        self._waiting_since_ms: int | None = None  # height start deferred (no empty blocks)
        self._started = False

    # ------------------------------------------------------------------ construction

    @staticmethod
    def initialize_store(store: Store) -> None:
        """Give a brand-new store its first sign state (height 1, nothing signed).

        Refuses a store that already has a sign state or committed heights: a lost sign state
        must stop the node, never be silently re-created.
        """
        if store.load_sign_state() is not None:
            raise ReplicaStartError("the store already has a sign state")
        if store.last_height() != 0:
            raise ReplicaStartError(
                f"the store has {store.last_height()} committed heights but no sign state; "
                "refusing to re-create it (restore the sign state from a backup)"
            )
        store.save_sign_state(
            codec.encode_sign_state(SignState(height=1, round=0, step=Step.PROPOSE))
        )

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
    ) -> Replica:
        """A replica resuming from `store` (whose committed state `app` already reflects)."""
        config = ReplicaConfig() if config is None else config
        raw = store.load_sign_state()
        if raw is None:
            raise ReplicaStartError(
                "the store has no sign state: run Replica.initialize_store on a new store; "
                "an existing node must never start without its sign state"
            )
        try:
            sign_state = codec.decode_sign_state(raw)
        except DecodeError as exc:
            raise ReplicaStartError(f"the stored sign state is corrupt: {exc}") from None
        last = store.last_height()
        if app.height != last:
            raise ReplicaStartError(f"application at height {app.height}, store at {last}")
        if sign_state.height > last + 1:
            raise ReplicaStartError(
                f"sign state at height {sign_state.height} but only {last} heights committed"
            )
        signed = sign_state.last_signed
        if signed is not None and signed.height > sign_state.height:
            raise ReplicaStartError("sign state's last signature is above its height")
        tip = _load_tip(store, last, chain_id)
        pool = EvidencePool(
            max_pending=config.max_pending_evidence, max_age_heights=config.evidence_max_age_heights
        )
        for height in range(max(1, last - config.evidence_max_age_heights + 1), last + 1):
            pool.mark_committed(_load_block(store, height).evidence, height)
        core = ConsensusCore(
            chain_id=chain_id,
            validators=validators,
            signer=signer,
            scheme=scheme,
            timeouts=config.timeouts,
            sign_state=sign_state,
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
            tip=tip,
            pool=pool,
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
        self._core.check_invariants()
        assert self._app.height == self._tip.height, "application and tip disagree"
        assert self._core.height in (self._tip.height, self._tip.height + 1), "core height"
        assert len(self._blocks) <= MAX_CACHED_BLOCKS + 1
        assert len(self._future) <= self.config.max_buffered_per_peer * len(
            self.validators.validators
        )
        assert len(self._seen) <= self.config.tx_seen_cache_size
        assert len(self._pool) <= self.config.max_pending_evidence
        assert len(self._catchup) <= self.config.max_catchup_batch
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

    # ------------------------------------------------------------------ heights

    def _begin_height(self, now_ms: int, *, force: bool = False) -> list[ev.ReplicaEffect]:
        """Start consensus at `self.height`, unless waiting for transactions first."""
        if (
            not force
            and not self.config.create_empty_blocks
            and len(self._mempool) == 0
            and not self._future.has_proposal_for(self.height)
        ):
            if self._waiting_since_ms is None:
                self._waiting_since_ms = now_ms
            deadline = self._waiting_since_ms + self.config.empty_block_interval_ms
            return [ev.SetTimer(deadline, EMPTY_BLOCK_TIMER)]
        self._waiting_since_ms = None
        self._blocks = {}
        self._unsent = {}
        self._fetch_after = {}
        out = self._drive(self._core.start_height(self.height, now_ms), now_ms, None)
        out.append(ev.BroadcastPayload(encode_wire(self._status())))
        for peer, msg in self._future.release(self.height):
            out += self._on_message(peer, msg, now_ms)
        return out

    def _waiting(self) -> bool:
        return self._waiting_since_ms is not None

    def _commit(
        self, block: Block, raw: bytes, commit: Commit, now_ms: int
    ) -> list[ev.ReplicaEffect]:
        """Execute `block` (final by `commit`), persist it, and move to the next height."""
        height = block.header.height
        assert height == self._tip.height + 1, "committing out of order"
        execution = self._app.execute_block(height, block.header.time_ms, block.txs)
        record = HeightRecord(
            height=height,
            block=raw,
            commit=codec.encode_commit(commit),
            app_hash=execution.app_hash,
            writes=execution.writes,
            tx_results=execution.encoded_results,
        )
        out: list[ev.ReplicaEffect] = [
            ev.CommitBlock(record, block_id(block.header), execution.results)
        ]
        self._app.apply(execution)  # the driver stores `record` before any later effect
        self._mempool.update(height, [result.tx_id for result in execution.results])
        self._pool.mark_committed(block.evidence, height)
        self._tip = tip_of(block, commit)
        self._catchup.committed(height)
        fetched = self._catchup.take(height + 1)
        if fetched is not None:
            return out + self._commit_fetched(fetched, now_ms)
        out += self._begin_height(now_ms)
        out += self._request_blocks(now_ms)
        return out

    # ------------------------------------------------------------------ the core

    def _drive(
        self, effects: Sequence[object], now_ms: int, peer: bytes | None
    ) -> list[ev.ReplicaEffect]:
        """Translate the core's effects, answering its questions at once when we can."""
        out: list[ev.ReplicaEffect] = []
        questions: list[object] = []  # answered after the batch, so its effects stay in order
        for effect in effects:
            if isinstance(effect, ce.RequestProposalValue | ce.RequestValidity | ce.Decide):
                questions.append(effect)
            elif isinstance(effect, ce.PersistSignState):
                out.append(ev.PersistSignState(codec.encode_sign_state(effect.state)))
            elif isinstance(effect, ce.Broadcast):
                out += self._broadcast_signed(effect.message, now_ms)
            elif isinstance(effect, ce.ScheduleTimeout):
                timer = ev.ConsensusTimer(effect.height, effect.round, effect.step)
                out.append(ev.SetTimer(effect.deadline_ms, timer))
            elif isinstance(effect, ce.ReportEvidence):
                if self._pool.add(effect.evidence):
                    out.append(ev.EvidenceFound(effect.evidence))
                    out.append(ev.BroadcastPayload(encode_wire(EvidenceMsg(effect.evidence))))
            elif isinstance(effect, ce.InputRejected):
                if peer is not None and not _benign(effect.reason):
                    out.append(ev.PeerMisbehaved(peer, effect.reason))
            else:
                raise AssertionError(f"unknown core effect {effect!r}")
        for question in questions:
            if isinstance(question, ce.RequestProposalValue):
                out += self._supply_proposal(question.height, question.round, now_ms)
            elif isinstance(question, ce.RequestValidity):
                out += self._answer_validity(question.height, question.block_id, now_ms)
            elif isinstance(question, ce.Decide):
                out += self._on_decide(question.height, question.block_id, question.commit, now_ms)
        return out

    def _broadcast_signed(self, message: Proposal | Vote, now_ms: int) -> list[ev.ReplicaEffect]:
        if isinstance(message, Vote):
            return [ev.BroadcastPayload(encode_wire(VoteMsg(message)))]
        held = self._blocks.get(message.block_id)
        if held is not None:
            return [ev.BroadcastPayload(encode_wire(ProposalMsg(message, held[1])))]
        # Re-proposing a valid value whose block we lost in a crash: fetch it from the round
        # where it was proposed, and send the proposal when it arrives.
        if len(self._unsent) < MAX_CACHED_BLOCKS:
            self._unsent[message.block_id] = message
        rnd = message.round if message.valid_round < 0 else message.valid_round
        return self._fetch_round(rnd, self._peers.connected(), now_ms)

    def _supply_proposal(self, height: int, rnd: int, now_ms: int) -> list[ev.ReplicaEffect]:
        if height != self.height or self._key is None:
            return []
        block = build_block(
            chain_id=self.chain_id,
            tip=self._tip,
            app=self._app,
            mempool=self._mempool,
            pool=self._pool,
            proposer=self._key,
            config=self.config,
            now_ms=now_ms,
        )
        bid = block_id(block.header)
        self._cache_block(bid, block, encode_block(block))
        event = ProposalValueSupplied(height, rnd, bid)
        return self._drive(self._core.handle(event, now_ms), now_ms, None)

    def _answer_validity(self, height: int, bid: BlockId, now_ms: int) -> list[ev.ReplicaEffect]:
        held = self._blocks.get(bid)
        if held is None or height != self.height:
            return []  # answered when the block arrives (see _on_proposal)
        valid = self._validity(held[0]) is None
        event = ValidityVerdict(height, bid, valid)
        return self._drive(self._core.handle(event, now_ms), now_ms, None)

    def _validity(self, block: Block) -> str | None:
        return check_block(
            block,
            chain_id=self.chain_id,
            tip=self._tip,
            app=self._app,
            pool=self._pool,
            validators=self.validators,
            scheme=self.scheme,
            config=self.config,
        )

    def _on_decide(
        self, height: int, bid: BlockId, commit: Commit, now_ms: int
    ) -> list[ev.ReplicaEffect]:
        held = self._blocks.get(bid)
        if height != self.height or held is None:
            return []  # the core decides only with the proposal, hence with the block
        return self._commit(held[0], held[1], commit, now_ms)

    def _cache_block(self, bid: BlockId, block: Block, raw: bytes) -> None:
        if bid in self._blocks:
            return
        state = self._core.sign_state
        keep = {state.locked_value, state.valid_value}
        while len(self._blocks) >= MAX_CACHED_BLOCKS:
            victim = next((k for k in self._blocks if k not in keep), None)
            if victim is None:
                break
            del self._blocks[victim]
        self._blocks[bid] = (block, raw)

    def _block_bytes(self, bid: bytes) -> bytes | None:
        held = self._blocks.get(bid)
        return None if held is None else held[1]

    def _status(self) -> StatusMsg:
        return serving.make_status(self._core, self._peers, self._tip.height, self.height)

    # ------------------------------------------------------------------ peer messages

    def _on_payload(self, peer: bytes, payload: bytes, now_ms: int) -> list[ev.ReplicaEffect]:
        if not self._peers.is_validator(peer):
            return [ev.PeerMisbehaved(peer, "message from a non-validator")]
        try:
            msg = decode_wire(payload, self.config.max_message_bytes)
        except DecodeError as exc:
            return [ev.PeerMisbehaved(peer, f"undecodable message: {exc}")]
        return self._on_message(peer, msg, now_ms)

    def _on_message(self, peer: bytes, msg: WireMessage, now_ms: int) -> list[ev.ReplicaEffect]:
        if isinstance(msg, ProposalMsg | VoteMsg):
            return self._on_consensus(peer, msg, now_ms)
        if isinstance(msg, StatusMsg):
            return self._on_status(peer, msg, now_ms)
        if isinstance(msg, GetRound):
            if msg.height != self.height or self._core.height != self.height:
                return []
            if msg.round not in self._core.rounds():
                return []
            found = serving.round_messages(self._core, msg.round, self._block_bytes)
            return [ev.SendTo(peer, encode_wire(m)) for m in found]
        if isinstance(msg, GetBlocks):
            found = serving.committed_blocks(
                self._store, msg.start, msg.count, self.config.max_catchup_batch
            )
            return [ev.SendTo(peer, encode_wire(m)) for m in found]
        if isinstance(msg, CommittedBlock):
            return self._on_committed_block(peer, msg, now_ms)
        if isinstance(msg, TxsMsg):
            return self._on_txs(msg.txs, now_ms)
        return self._on_evidence(peer, msg, now_ms)

    def _on_consensus(
        self, peer: bytes, msg: ProposalMsg | VoteMsg, now_ms: int
    ) -> list[ev.ReplicaEffect]:
        value: Proposal | Vote = msg.proposal if isinstance(msg, ProposalMsg) else msg.vote
        height = value.height
        if height < self.height or height > self.height + self.config.max_future_heights:
            return []  # late, or too far ahead to hold
        if height > self.height or self._waiting():
            self._future.add(height, peer, msg)
            if self._waiting() and isinstance(msg, ProposalMsg) and height == self.height:
                return self._begin_height(now_ms, force=True)
            return []
        if isinstance(msg, VoteMsg):
            out = self._drive(self._core.handle(VoteReceived(msg.vote), now_ms), now_ms, peer)
            if self.height == height:
                out += self._fetch_missing(msg.vote.round, now_ms)
            return out
        return self._on_proposal(peer, msg, now_ms)

    def _on_proposal(self, peer: bytes, msg: ProposalMsg, now_ms: int) -> list[ev.ReplicaEffect]:
        proposal = msg.proposal
        try:
            block = decode_block(msg.block, self.config.max_message_bytes)
        except DecodeError as exc:
            return [ev.PeerMisbehaved(peer, f"undecodable block: {exc}")]
        if block_id(block.header) != proposal.block_id or block.header.height != proposal.height:
            return [ev.PeerMisbehaved(peer, "proposal does not name the block it carries")]
        fresh = proposal.block_id not in self._blocks
        if fresh:
            self._cache_block(proposal.block_id, block, msg.block)
        effects = self._core.handle(ProposalReceived(proposal), now_ms)
        if fresh and any(isinstance(e, InputRejected) for e in effects):
            self._blocks.pop(proposal.block_id, None)
        out = self._drive(effects, now_ms, peer)
        if self.height != proposal.height:
            return out  # it completed a decision
        unsent = self._unsent.pop(proposal.block_id, None)
        if unsent is not None:
            out += self._broadcast_signed(unsent, now_ms)
        if proposal.valid_round >= 0 and not self._has_quorum(
            proposal.valid_round, VoteType.PREVOTE, proposal.block_id
        ):
            out += self._fetch_round(proposal.valid_round, [peer], now_ms)
        return out

    def _has_quorum(self, rnd: int, vote_type: VoteType, bid: BlockId) -> bool:
        power = sum(
            self.validators.power_of(v.validator)
            for v in self._core.votes(rnd, vote_type)
            if v.block_id == bid
        )
        return 3 * power > 2 * self.validators.total_power

    def _fetch_missing(self, rnd: int, now_ms: int) -> list[ev.ReplicaEffect]:
        """2f+1 precommits for a block whose proposal we lack: ask those who precommitted."""
        if self._core.proposal(rnd) is not None or self._core.decided is not None:
            return []
        by_value: dict[BlockId, list[bytes]] = {}
        for vote in self._core.votes(rnd, VoteType.PRECOMMIT):
            if vote.block_id is not None:
                by_value.setdefault(vote.block_id, []).append(vote.validator)
        for bid, voters in sorted(by_value.items()):
            if self._has_quorum(rnd, VoteType.PRECOMMIT, bid):
                return self._fetch_round(rnd, sorted(voters), now_ms)
        return []

    def _fetch_round(self, rnd: int, peers: list[bytes], now_ms: int) -> list[ev.ReplicaEffect]:
        if self._fetch_after.get(rnd, -1) > now_ms or len(self._fetch_after) >= MAX_CACHED_BLOCKS:
            return []
        self._fetch_after[rnd] = now_ms + self.config.fetch_retry_ms
        payload = encode_wire(GetRound(self.height, rnd))
        return [ev.SendTo(p, payload) for p in peers if self._peers.is_connected(p)]

    def _on_status(self, peer: bytes, status: StatusMsg, now_ms: int) -> list[ev.ReplicaEffect]:
        self._peers.record_status(peer, status)
        out: list[ev.ReplicaEffect] = []
        if not self._waiting() and self._core.height == self.height:
            pushed = serving.push_for_status(self._core, self._peers, status, self._block_bytes)
            out += [ev.SendTo(peer, encode_wire(m)) for m in pushed]
        return out + self._request_blocks(now_ms)

    def _request_blocks(self, now_ms: int) -> list[ev.ReplicaEffect]:
        candidates = []
        for peer in self._peers.ahead_of(self.height):
            status = self._peers.status(peer)
            assert status is not None
            candidates.append((peer, status.last_committed))
        request = self._catchup.next_request(self.height, candidates, now_ms)
        if request is None:
            return []
        peer, get, deadline = request
        return [ev.SendTo(peer, encode_wire(get)), ev.SetTimer(deadline, CATCHUP_TIMER)]

    def _on_committed_block(
        self, peer: bytes, msg: CommittedBlock, now_ms: int
    ) -> list[ev.ReplicaEffect]:
        try:
            block = decode_block(msg.block, self.config.max_message_bytes)
            commit = codec.decode_commit(msg.commit)
        except DecodeError as exc:
            return [ev.PeerMisbehaved(peer, f"undecodable committed block: {exc}")]
        height = block.header.height
        if height <= self._tip.height or height >= self.height + self.config.max_catchup_batch:
            return []
        try:
            verify_commit(
                commit, self.validators, self.chain_id, block_id(block.header), self.scheme, height
            )
        except CommitError as exc:
            return [ev.PeerMisbehaved(peer, f"committed block without a valid commit: {exc}")]
        fetched = Fetched(block, msg.block, commit, peer)
        if height > self.height:
            self._catchup.stash(self.height, fetched)
            return []
        return self._commit_fetched(fetched, now_ms)

    def _commit_fetched(self, fetched: Fetched, now_ms: int) -> list[ev.ReplicaEffect]:
        reason = self._validity(fetched.block)
        if reason is not None:  # 2f+1 signed it, yet it is invalid here: report, do not apply
            return [ev.PeerMisbehaved(fetched.peer, f"committed block invalid here: {reason}")]
        return self._commit(fetched.block, fetched.raw, fetched.commit, now_ms)

    def _on_evidence(self, peer: bytes, msg: EvidenceMsg, now_ms: int) -> list[ev.ReplicaEffect]:
        if self._pool.known(msg.evidence):
            return []
        reason = check_evidence(
            msg.evidence,
            chain_id=self.chain_id,
            validators=self.validators,
            scheme=self.scheme,
            height=self.height + 1,
            max_age_heights=self.config.evidence_max_age_heights,
        )
        if reason is not None:
            return [ev.PeerMisbehaved(peer, reason)]
        return [ev.EvidenceFound(msg.evidence)] if self._pool.add(msg.evidence) else []

    # ------------------------------------------------------------------ transactions

    def _on_client_tx(self, tx: bytes, now_ms: int) -> list[ev.ReplicaEffect]:
        admission = self._mempool.add(tx, self.height)
        out: list[ev.ReplicaEffect] = [ev.TxAdmitted(admission)]
        if not admission.accepted:
            return out
        self._seen.check_and_add(tx_hash(tx))
        self._tx_batch.append(tx)
        if len(self._tx_batch) >= self.config.tx_batch_max:
            out += self._flush_txs()
        elif not self._tx_timer_armed:
            self._tx_timer_armed = True
            out.append(ev.SetTimer(now_ms + self.config.tx_flush_interval_ms, TXS_TIMER))
        if self._waiting():
            out += self._begin_height(now_ms)
        return out

    def _flush_txs(self) -> list[ev.ReplicaEffect]:
        if not self._tx_batch:
            return []
        batch, self._tx_batch = tuple(self._tx_batch), []
        return [ev.BroadcastPayload(encode_wire(TxsMsg(batch)))]

    def _on_txs(self, txs: Sequence[bytes], now_ms: int) -> list[ev.ReplicaEffect]:
        """Gossiped transactions: drop known ones by hash before any signature check."""
        for tx in txs:
            if not self._seen.check_and_add(tx_hash(tx)):
                self._mempool.add(tx, self.height)
        if self._waiting() and len(self._mempool) > 0:
            return self._begin_height(now_ms)
        return []

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
            if self._core.height == self.height and not self._waiting():
                for rnd in self._core.rounds():
                    out += self._fetch_missing(rnd, now_ms)
            out.append(ev.SetTimer(now_ms + self.config.status_interval_ms, STATUS_TIMER))
            return out
        if timer == TXS_TIMER:
            self._tx_timer_armed = False
            return self._flush_txs()
        if timer == CATCHUP_TIMER:
            return self._request_blocks(now_ms)
        if timer == EMPTY_BLOCK_TIMER:
            if self._waiting_since_ms is None:
                return []
            if now_ms < self._waiting_since_ms + self.config.empty_block_interval_ms:
                return []
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
        return out


def _benign(reason: str) -> bool:
    """Core rejections that honest gossip produces (other heights, far-ahead rounds)."""
    return "for height" in reason or "future rounds" in reason


def _load_block(store: Store, height: int) -> Block:
    raw = store.load_block(height)
    if raw is None:
        raise ReplicaStartError(f"the store lacks block {height}")
    try:
        return decode_block(raw, MAX_WIRE_BYTES)
    except DecodeError as exc:
        raise ReplicaStartError(f"stored block {height} is corrupt: {exc}") from None


def _load_tip(store: Store, last: int, chain_id: str) -> ChainTip:
    if last == 0:
        return ChainTip(0)
    block = _load_block(store, last)
    raw = store.load_commit(last)
    if raw is None:
        raise ReplicaStartError(f"the store lacks the commit of height {last}")
    try:
        commit = codec.decode_commit(raw)
    except DecodeError as exc:
        raise ReplicaStartError(f"stored commit {last} is corrupt: {exc}") from None
    if block.header.chain_id != chain_id or commit.block_id != block_id(block.header):
        raise ReplicaStartError(f"stored block {last} does not match its commit or chain")
    return tip_of(block, commit)
