"""`LedgerApp`: the deposit-token ledger as the replica's `Application`.

Theory of operation. The committed state is a bytes -> bytes dict held in memory (loaded from
the store at start) plus its app-hash accumulator. `execute_block` runs a block in a
`LedgerState` overlay and returns the overlay's writes, the results and the new app hash
without touching the committed state; `apply` makes one execution current after the store
saved it. Heights advance one at a time: only `height + 1` can be validated, executed and
applied. Block 1 also carries the genesis entries in its writes, since a store holds no
height 0.

Each block first prunes seen tx_ids whose window has passed (valid_until_height < height),
then executes its transactions in order; every transaction, successful or failed, leaves a
seen record (body hash, expiry, height, index, code) so a retry gets the first outcome back.
An in-memory index from expiry height to tx_ids, rebuilt from the state at load, keeps the
pruning proportional to what expires.
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
from ledger.layout import SeenRecord
from ledger.queries import (
    AccountView,
    SupplyView,
    TxOutcome,
    account_view,
    encode_outcome,
    seen_outcome,
    supply_view,
)
from ledger.state import LedgerState
from ledger.txcodec import DecodedTx
from ledger.validation import StaticRejection, VerifiedTxCache, check_window


class InvalidBlockError(ValueError):
    """`execute_block` was given transactions `validate_block_txs` refuses (a caller bug)."""


class LedgerLoadError(RuntimeError):
    """The store's state does not belong to this genesis or does not match its app hash."""


class LedgerApp:
    """The deposit-token state machine (implements consensus.interfaces.Application)."""

    def __init__(
        self, genesis: Genesis, scheme: SignatureScheme = ED25519, *, cache_size: int = 100_000
    ) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.limits = genesis.limits
        self.verified = VerifiedTxCache(scheme, genesis.chain_id, genesis.limits, cache_size)
        self._state: dict[bytes, bytes] = genesis.initial_writes()
        self._height = 0
        self._acc = Accumulator.of_state(self._state)
        self._app_hash = self._acc.app_hash(0)
        self._expiring: dict[int, set[bytes]] = {}
        self._currencies: set[str] = set()
        self._pending_accs: dict[tuple[int, bytes], Accumulator] = {}
        self._pending_txs: dict[tuple[int, bytes], tuple[bytes, ...]] = {}  # to forget on apply
        self._checked: tuple[int, tuple[bytes, ...], list[DecodedTx]] | None = None
        self._reindex()

    @classmethod
    def from_store(
        cls, genesis: Genesis, store: Store, scheme: SignatureScheme = ED25519
    ) -> LedgerApp:
        """The app at the store's last committed height (from genesis if the store is empty)."""
        app = cls(genesis, scheme)
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
        self._expiring = {}
        self._currencies = set()
        for key, value in self._state.items():
            self._index(key, None, value)

    def _index(self, key: bytes, old: bytes | None, new: bytes | None) -> None:
        if key.startswith(L.SEEN):
            tx_id = key[len(L.SEEN) :]
            if old is not None:
                self._expiring.get(L.seen_expiry(old), set()).discard(tx_id)
            if new is not None:
                self._expiring.setdefault(L.seen_expiry(new), set()).add(tx_id)
        elif key.startswith(L.CUR):
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

    def admit(self, tx: bytes, height: int) -> tuple[TxAdmission, DecodedTx | None]:
        """`check_tx` plus the decoded transaction when accepted (for the mempool)."""
        try:
            dtx = self.verified.check(tx)
        except StaticRejection as exc:
            return TxAdmission(False, exc.tx_id, exc.code.value, exc.message), None
        try:
            check_window(dtx, height, self.limits.max_validity_window)
            rejection = self._seen_rejection(dtx)
            if rejection is not None:
                raise rejection
        except StaticRejection as exc:
            self.verified.forget([tx])  # refused: nothing will ask about it again
            return TxAdmission(False, exc.tx_id, exc.code.value, exc.message), None
        return TxAdmission(True, dtx.tx.tx_id, OK), dtx

    def check_tx(self, tx: bytes, height: int) -> TxAdmission:
        return self.admit(tx, height)[0]

    def _seen_rejection(self, dtx: DecodedTx, index: int = -1) -> StaticRejection | None:
        """ALREADY_COMMITTED (message: the first outcome's code) or DUPLICATE_TX_ID."""
        tx_id = dtx.tx.tx_id
        raw = self._state.get(L.seen_key(tx_id))
        if raw is None:
            return None
        seen = SeenRecord.decode(raw)
        if seen.body_hash == dtx.body_hash:
            return StaticRejection(Code.ALREADY_COMMITTED, seen.code, tx_id, index)
        return StaticRejection(
            Code.DUPLICATE_TX_ID, "a different transaction has this id", tx_id, index
        )

    def _check_block(self, height: int, txs: Sequence[bytes]) -> list[DecodedTx]:
        """Every static and replay check of a block's transactions (raises StaticRejection).

        A block is checked when its proposal arrives and again when it executes; the verdict
        depends only on the txs and the committed state, so the last success is remembered
        until the next block is applied."""
        if height != self._height + 1:
            raise StaticRejection(Code.BAD_FIELD, f"height {height} is not {self._height + 1}")
        key = tuple(txs)
        checked = self._checked
        if checked is not None and checked[0] == height and checked[1] == key:
            return checked[2]
        dtxs = self.verified.check_many(txs)
        ids: set[bytes] = set()
        for index, dtx in enumerate(dtxs):
            tx_id = dtx.tx.tx_id
            try:
                check_window(dtx, height, self.limits.max_validity_window)
            except StaticRejection as exc:
                exc.index = index
                raise
            if tx_id in ids:
                raise StaticRejection(Code.DUPLICATE_IN_BLOCK, "tx_id repeated", tx_id, index)
            ids.add(tx_id)
            rejection = self._seen_rejection(dtx, index)
            if rejection is not None:
                raise rejection
        self._checked = (height, key, dtxs)
        return dtxs

    def validate_block_txs(self, height: int, txs: Sequence[bytes]) -> str | None:
        try:
            self._check_block(height, txs)
        except StaticRejection as exc:
            where = f"tx {exc.index}: " if exc.index >= 0 else ""
            return f"{where}{exc.code.value}: {exc.message}"
        return None

    def execute_block(self, height: int, time_ms: int, txs: Sequence[bytes]) -> BlockExecution:
        try:
            dtxs = self._check_block(height, txs)
        except StaticRejection as exc:
            raise InvalidBlockError(f"block {height} is invalid: {exc}") from None
        state = LedgerState(self._state)
        for expiry in sorted(e for e in self._expiring if e < height):
            for tx_id in sorted(self._expiring[expiry]):
                state.set_seen(tx_id, None)
        results: list[TxResult] = []
        encoded: dict[bytes, bytes] = {}
        for index, dtx in enumerate(dtxs):
            tx = dtx.tx
            tx_id = tx.tx_id
            code, message = execute_tx(state, tx, height)
            value = code.value
            seen = L.encode_seen(dtx.body_hash, tx.valid_until_height, height, index, value)
            state.put(L.seen_key(tx_id), seen)
            results.append(TxResult(tx_id, index, value, message))
            encoded[tx_id] = encode_outcome(height, index, value, message)
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
        return BlockExecution(height, app_hash, writes, tuple(results), encoded)

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
        for expiry in [e for e in self._expiring if e < execution.height]:
            assert not self._expiring[expiry], "seen tx_ids outlived their window"
            del self._expiring[expiry]
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
        """The outcome of a tx_id committed within the window (older ones: the store)."""
        return seen_outcome(self._state, tx_id)

    def supply(self, currency: str) -> SupplyView | None:
        return supply_view(self._state, currency)

    def currencies(self) -> list[str]:
        return sorted(self._currencies)
