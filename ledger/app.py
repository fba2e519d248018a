"""`LedgerApp`: the deposit-token ledger as the replica's `Application`.

Theory of operation. The committed state is a bytes -> bytes dict held in memory (loaded from
the store at start) plus its app-hash accumulator. `execute_block` runs a block in a
`LedgerState` overlay and returns the overlay's writes, the results and the new app hash
without touching the committed state; `apply` makes one execution current after the store
saved it. Heights advance one at a time: only `height + 1` can be validated, executed and
applied. Block 1 also carries the genesis entries in its writes, since a store holds no
height 0.

A block executes its transactions in order. A tx_id's first use runs (successful or failed)
and enters the used-id index (`ledger.used_ids`: height, index, body hash, code), which lives
in the store and is never pruned, so a retry gets the first outcome back however late it
comes; any later use of the id in a block commits as ALREADY_COMMITTED (the very same
transaction) or DUPLICATE_TX_ID (another one) and changes nothing. Every result is also a leaf
of the block's results root (`ledger.results`). Blocks are executed before they are voted on,
possibly several candidates per height; only the one applied counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from consensus.crypto import ED25519, SignatureScheme
from consensus.interfaces import OK, BlockExecution, Store, TxAdmission, TxResult
from ledger import layout as L
from ledger.apphash import Accumulator
from ledger.codes import Code
from ledger.execute import execute_tx
from ledger.genesis import Genesis
from ledger.queries import AccountView, SupplyView, TxOutcome, account_view, supply_view
from ledger.results import encode_result
from ledger.state import LedgerState
from ledger.txcodec import DecodedTx
from ledger.used_ids import TxIndexStore, UsedId, UsedIds
from ledger.validation import StaticRejection, VerifiedTxCache, check_window


class InvalidBlockError(ValueError):
    """`execute_block` was given transactions `validate_block_txs` refuses (a caller bug)."""


class LedgerLoadError(RuntimeError):
    """The store's state does not belong to this genesis or does not match its app hash."""


class LedgerApp:
    """The deposit-token state machine (implements consensus.interfaces.Application)."""

    def __init__(
        self,
        genesis: Genesis,
        scheme: SignatureScheme = ED25519,
        *,
        cache_size: int = 100_000,
        index: TxIndexStore | None = None,
    ) -> None:
        """A ledger at genesis. `index` is the store whose used-id index it reads (None: keep
        every committed id in memory, for tests and tools)."""
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.limits = genesis.limits
        self.verified = VerifiedTxCache(scheme, genesis.chain_id, genesis.limits, cache_size)
        self._state: dict[bytes, bytes] = genesis.initial_writes()
        self._height = 0
        self._acc = Accumulator.of_state(self._state)
        self._app_hash = self._acc.app_hash(0)
        self._used = UsedIds(index)
        self._currencies: set[str] = set()
        self._pending_accs: dict[tuple[int, bytes], Accumulator] = {}
        self._pending_txs: dict[tuple[int, bytes], tuple[bytes, ...]] = {}  # to forget on apply
        self._checked: tuple[int, int, tuple[bytes, ...], list[DecodedTx]] | None = None
        self._reindex()

    @classmethod
    def from_store(
        cls, genesis: Genesis, store: Store, scheme: SignatureScheme = ED25519
    ) -> LedgerApp:
        """The app at the store's last committed height (from genesis if the store is empty),
        reading committed tx_ids from the store's index."""
        app = cls(genesis, scheme, index=store)
        height = store.last_height()
        if height == 0:
            return app
        app._state = dict(store.iter_state())
        if app._state.get(L.CHAIN_KEY) != genesis.initial_writes()[L.CHAIN_KEY]:
            raise LedgerLoadError("the store's state was not created from this genesis")
        app._height = height
        app._acc = Accumulator.of_state(app._state)
        app._app_hash = app._acc.app_hash(height)
        stored = store.load_app_hash(height)
        if stored != app._app_hash:
            raise LedgerLoadError(
                f"the state in the store does not match the app hash saved at height {height}"
            )
        app._reindex()
        return app

    def _reindex(self) -> None:
        self._currencies = set()
        for key, value in self._state.items():
            self._index(key, None, value)

    def _index(self, key: bytes, old: bytes | None, new: bytes | None) -> None:
        if key.startswith(L.CUR):
            code = key[len(L.CUR) :].decode("ascii")
            if new is None:
                self._currencies.discard(code)
            else:
                self._currencies.add(code)

    # ------------------------------------------------------------ Application

    @property
    def height(self) -> int:
        return self._height

    @property
    def app_hash(self) -> bytes:
        return self._app_hash

    def admit(self, tx: bytes, time_ms: int) -> tuple[TxAdmission, DecodedTx | None]:
        """`check_tx` plus the decoded transaction when accepted (for the mempool)."""
        try:
            dtx = self.verified.check(tx)
        except StaticRejection as exc:
            return TxAdmission(False, exc.tx_id, exc.code.value, exc.message), None
        try:  # a used id first: a late exact re-send still learns its first outcome
            used = self._used.get(dtx.tx.tx_id)
            if used is not None:
                raise _reuse(dtx, used)
            check_window(dtx, time_ms, self.limits.max_validity_window_ms)
        except StaticRejection as exc:
            self.verified.forget([tx])  # refused: nothing will ask about it again
            return TxAdmission(False, exc.tx_id, exc.code.value, exc.message), None
        return TxAdmission(True, dtx.tx.tx_id, OK), dtx

    def check_tx(self, tx: bytes, time_ms: int) -> TxAdmission:
        return self.admit(tx, time_ms)[0]

    def _check_block(self, height: int, time_ms: int, txs: Sequence[bytes]) -> list[DecodedTx]:
        """Every static check of a block's transactions at its time (raises StaticRejection).

        A block is checked when its proposal arrives and again when it executes; the verdict
        depends only on the txs, the time and the committed height, so the last success is
        remembered until the next block is applied."""
        if height != self._height + 1:
            raise StaticRejection(Code.BAD_FIELD, f"height {height} is not {self._height + 1}")
        key = tuple(txs)
        checked = self._checked
        if checked is not None and checked[:3] == (height, time_ms, key):
            return checked[3]
        dtxs = self.verified.check_many(txs)
        window_ms = self.limits.max_validity_window_ms
        for index, dtx in enumerate(dtxs):
            try:
                check_window(dtx, time_ms, window_ms)
            except StaticRejection as exc:
                exc.index = index
                raise
        self._checked = (height, time_ms, key, dtxs)
        return dtxs

    def validate_block_txs(self, height: int, time_ms: int, txs: Sequence[bytes]) -> str | None:
        try:
            self._check_block(height, time_ms, txs)
        except StaticRejection as exc:
            where = f"tx {exc.index}: " if exc.index >= 0 else ""
            return f"{where}{exc.code.value}: {exc.message}"
        return None

    def execute_block(self, height: int, time_ms: int, txs: Sequence[bytes]) -> BlockExecution:
        try:
            dtxs = self._check_block(height, time_ms, txs)
        except StaticRejection as exc:
            raise InvalidBlockError(f"block {height} is invalid: {exc}") from None
        state = LedgerState(self._state)
        results: list[TxResult] = []
        leaves: list[bytes] = []
        first_uses: dict[bytes, UsedId] = {}
        for index, dtx in enumerate(dtxs):
            tx = dtx.tx
            tx_id = tx.tx_id
            used = first_uses.get(tx_id) or self._used.get(tx_id)
            if used is None:
                code, message = execute_tx(state, tx, height)
                value = code.value
                first_uses[tx_id] = UsedId(height, index, dtx.body_hash, value, message)
            else:
                rejection = _reuse(dtx, used)
                value, message = rejection.code.value, rejection.message
            results.append(TxResult(tx_id, index, value, message))
            leaves.append(encode_result(tx_id, value))
        acc = self._acc.copy()
        for key, new in state.writes.items():
            acc.update(key, self._state.get(key), new)
        app_hash = acc.app_hash(height)
        self._pending_accs[(height, app_hash)] = acc
        self._pending_txs[(height, app_hash)] = tuple(txs)
        writes: dict[bytes, bytes | None] = dict(state.writes)
        if height == 1:  # the store holds no height 0: persist the genesis entries now
            for key in self.genesis.initial_writes():
                writes.setdefault(key, self._state[key])
        index_records = {tx_id: used.encode() for tx_id, used in first_uses.items()}
        return BlockExecution(
            height, app_hash, writes, tuple(results), tuple(leaves), index_records
        )

    def apply(self, execution: BlockExecution) -> None:
        if execution.height != self._height + 1:
            raise ValueError(f"cannot apply height {execution.height} at {self._height}")
        acc = self._pending_accs.pop((execution.height, execution.app_hash), None)
        if acc is None:
            acc = self._acc.copy()
            for key, new in execution.writes.items():
                acc.update(key, self._state.get(key), new)
        if acc.app_hash(execution.height) != execution.app_hash:
            raise ValueError("the execution's app hash does not match its writes")
        for key, new in execution.writes.items():
            old = self._state.get(key)
            if new is None:
                self._state.pop(key, None)
            else:
                self._state[key] = new
            if old != new:
                self._index(key, old, new)
        self._used.applied(execution.height, execution.tx_index)
        self._height = execution.height
        self._acc = acc
        self._app_hash = execution.app_hash
        self._pending_accs = {k: v for k, v in self._pending_accs.items() if k[0] > self._height}
        self.verified.forget(self._pending_txs.pop((execution.height, execution.app_hash), ()))
        self._pending_txs = {k: v for k, v in self._pending_txs.items() if k[0] > self._height}

    # ------------------------------------------------------------ queries

    @property
    def state(self) -> Mapping[bytes, bytes]:
        """The committed state, read-only (for invariant checks and the simulator)."""
        return MappingProxyType(self._state)

    def account(self, public_key: bytes) -> AccountView:
        return account_view(self._state, public_key, self._currencies)

    def tx_result(self, tx_id: bytes) -> TxOutcome | None:
        """Where and how `tx_id` committed (its first and only use), or None."""
        used = self._used.get(tx_id)
        return None if used is None else TxOutcome(used.height, used.index, used.code, used.message)

    def used_id(self, tx_id: bytes) -> UsedId | None:
        """The used-id index record of `tx_id` (None if it never committed)."""
        return self._used.get(tx_id)

    def supply(self, currency: str) -> SupplyView | None:
        return supply_view(self._state, currency)

    def currencies(self) -> list[str]:
        return sorted(self._currencies)


def _reuse(dtx: DecodedTx, used: UsedId) -> StaticRejection:
    """A later use of a committed tx_id: ALREADY_COMMITTED if it is the same transaction
    (the message names the first outcome), else DUPLICATE_TX_ID naming where the id went."""
    where = f"height {used.height} (index {used.index}) with {used.code}"
    if used.body_hash == dtx.body_hash:
        return StaticRejection(Code.ALREADY_COMMITTED, f"committed at {where}", dtx.tx.tx_id)
    return StaticRejection(
        Code.DUPLICATE_TX_ID,
        f"tx_id used by a different transaction, committed at {where}",
        dtx.tx.tx_id,
    )
