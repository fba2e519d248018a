"""The state every part of the replica shares, declared once for the type checker.

`Replica` is assembled from small mixins (`Inbound` for peer traffic, `Progress` for driving
the consensus core and committing blocks, `TxGossip` for transactions), as the core is from
`consensus.rules.Rules`. This class only declares the attributes `Replica.__init__` sets and
the cross-part methods, so each part can be read and type-checked on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from consensus import events as ce
from consensus.core import ConsensusCore
from consensus.crypto import SignatureScheme, Signer
from consensus.interfaces import Application, BlockExecution, Mempool, Store
from consensus.messages import BlockId, Commit, Proposal, SignState, ValidatorSet, Vote
from consensus.replica import events as ev
from consensus.replica.block import Block
from consensus.replica.catchup import CatchUp, Fetched
from consensus.replica.chain import ChainTip
from consensus.replica.config import ReplicaConfig
from consensus.replica.decoded import DecodeMemo
from consensus.replica.evidence import EvidencePool
from consensus.replica.gossip import FutureBuffer, PeerTable, SeenCache
from consensus.replica.wire import StatusMsg, WireMessage

STATUS_TIMER = ev.ReplicaTimer("status")
TXS_TIMER = ev.ReplicaTimer("txs")
CATCHUP_TIMER = ev.ReplicaTimer("catchup")
EMPTY_BLOCK_TIMER = ev.ReplicaTimer("empty_block")
BLOCK_TIME_TIMER = ev.ReplicaTimer("block_time")
MAX_CACHED_BLOCKS = 16
MAX_PENDING_FETCHES = 16


class ReplicaParts:
    """Declarations only; `Replica` defines everything."""

    chain_id: str
    validators: ValidatorSet
    scheme: SignatureScheme
    config: ReplicaConfig
    _signer: Signer | None
    _key: bytes | None
    _app: Application
    _core: ConsensusCore
    _tip: ChainTip
    _pool: EvidencePool
    _decoded: DecodeMemo | None
    _store: Store
    _mempool: Mempool
    _peers: PeerTable
    _future: FutureBuffer
    _seen: SeenCache
    _catchup: CatchUp
    _blocks: dict[BlockId, tuple[Block, bytes]]
    _executions: dict[BlockId, BlockExecution]  # candidate blocks of this height, executed
    _early: dict[BlockId, int]  # blocks stamped ahead of our clock -> when to judge them
    _unsent: dict[BlockId, Proposal]
    _fetch_after: dict[int, tuple[int, set[bytes]]]  # round -> (window end, peers asked)
    _tick_view: tuple[int, int] | None
    _tx_batch: list[bytes]
    _tx_timer_armed: bool
    _waiting_since_ms: int | None

    @property
    def height(self) -> int:
        raise NotImplementedError

    def _status(self) -> StatusMsg:
        raise NotImplementedError

    # provided by Progress
    def _drive(
        self, effects: Sequence[ce.Effect], now_ms: int, peer: bytes | None
    ) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _commit(
        self, block: Block, raw: bytes, commit: Commit, now_ms: int
    ) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _begin_height(self, now_ms: int, *, force: bool = False) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _validity(self, block: Block) -> str | None:
        raise NotImplementedError

    def _cache_block(self, bid: BlockId, block: Block, raw: bytes) -> None:
        raise NotImplementedError

    def _answer_validity(self, height: int, bid: BlockId, now_ms: int) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _broadcast_signed(self, message: Proposal | Vote, now_ms: int) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    # provided by Keeping (kept.py)
    def _sign_record(self, state: SignState) -> bytes:
        raise NotImplementedError

    def _restored_blocks(self) -> dict[BlockId, tuple[Block, bytes]]:
        raise NotImplementedError

    # provided by Inbound
    def _on_message(self, peer: bytes, msg: WireMessage, now_ms: int) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _fetch_round(self, rnd: int, peers: list[bytes], now_ms: int) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _request_blocks(self, now_ms: int) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _gossip_tick(self, now_ms: int) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    # provided by TxGossip
    def _relay_pending(self, peer: bytes) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _on_txs(self, txs: Sequence[bytes], now_ms: int) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _on_client_tx(self, tx: bytes, now_ms: int) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _flush_txs(self) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    def _commit_fetched(self, fetched: Fetched, now_ms: int) -> list[ev.ReplicaEffect]:
        raise NotImplementedError

    # small shared helpers
    def _waiting(self) -> bool:
        """True while the next height's start is deferred until transactions arrive."""
        return self._waiting_since_ms is not None

    def _block_bytes(self, bid: bytes) -> bytes | None:
        held = self._blocks.get(bid)
        return None if held is None else held[1]
