"""What the replica needs from the application, its mempool and its store (ABCI's cut).

`consensus/` declares these protocols and `ledger/` implements them, so the replica stays pure
and imports nothing of the ledger. Everything crossing this boundary is bytes or a small frozen
value: transactions are opaque bytes to consensus; application state is a key/value map whose
changes per block (`writes`) the store persists atomically with the block and its commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import attrs

OK = "OK"
"""The code of an accepted or successfully executed transaction."""


@attrs.frozen
class TxAdmission:
    """The verdict on a transaction offered to the mempool (or checked for a block)."""

    accepted: bool
    tx_id: bytes  # b"" when the transaction could not even be decoded
    code: str  # OK, or a stable rejection code such as BAD_SIGNATURE, MEMPOOL_FULL
    message: str = ""


@attrs.frozen
class TxResult:
    """The outcome of one transaction in a committed block, identical on every validator."""

    tx_id: bytes
    index: int
    code: str  # OK or a stable failure code (INSUFFICIENT_FUNDS, ...)
    message: str = ""


@attrs.frozen
class BlockExecution:
    """What executing a block's transactions produced; nothing is applied until committed.

    Blocks are executed before they are voted on, so a header can commit to the state after
    its block (`app_hash`) and to every transaction's result (`result_leaves`, the leaves of the
    header's results root): one certified header proves a payment and its outcome."""

    height: int
    app_hash: bytes  # the state digest after this block
    writes: Mapping[bytes, bytes | None]  # state key -> new value, None deletes
    results: tuple[TxResult, ...]
    result_leaves: tuple[bytes, ...]  # the application's encoding of each result, in block order
    tx_index: Mapping[bytes, bytes]  # tx_id -> index record, for the ids this block used first


class Application(Protocol):
    """The deterministic state machine replicated by consensus (the deposit-token ledger)."""

    @property
    def height(self) -> int:
        """The last committed height (0 before the first block)."""
        ...

    @property
    def app_hash(self) -> bytes:
        """The digest of the committed state at `height`."""
        ...

    def check_tx(self, tx: bytes, time_ms: int) -> TxAdmission:
        """Can `tx` go into a block whose time is about `time_ms`? Decode, size, signature,
        validity window, and whether its id was already used."""
        ...

    def validate_block_txs(self, height: int, time_ms: int, txs: Sequence[bytes]) -> str | None:
        """None if `txs` may form block `height` with time `time_ms`, else why not.
        Deterministic: depends only on its arguments and the committed chain (malformed, badly
        signed or expired => invalid; failing on state, or reusing a committed id, is fine: it
        commits with a failure code and no effect)."""
        ...

    def execute_block(self, height: int, time_ms: int, txs: Sequence[bytes]) -> BlockExecution:
        """Run `txs` (which `validate_block_txs` accepted) on top of the committed state
        without changing it. May be called for several candidate blocks of one height."""
        ...

    def apply(self, execution: BlockExecution) -> None:
        """Make `execution` the committed state (called after the store saved it)."""
        ...


class Mempool(Protocol):
    """Pending transactions: admission, ordering and removal. Pure; no I/O."""

    def add(self, tx: bytes, time_ms: int) -> TxAdmission:
        """Admit `tx` for a block whose time will be about `time_ms`."""
        ...

    def contains(self, tx_id: bytes) -> bool: ...

    def reap(self, max_bytes: int, max_count: int, time_ms: int) -> list[bytes]:
        """Transactions for a proposal with time `time_ms`, in arrival order, within both
        budgets (those not valid at that time stay behind or, if expired, are dropped)."""
        ...

    def pending(self, max_bytes: int, max_count: int) -> list[bytes]:
        """Pending transactions in arrival order within both budgets, whatever their window
        (to relay to a peer that reconnected)."""
        ...

    def update(self, height: int, time_ms: int, committed_tx_ids: Sequence[bytes]) -> None:
        """After block `height` (time `time_ms`) commits: drop its transactions and the
        expired ones."""
        ...

    def __len__(self) -> int: ...

    @property
    def size_bytes(self) -> int: ...


@attrs.frozen
class HeightRecord:
    """Everything one committed height writes, in one atomic store transaction."""

    height: int
    block: bytes  # the encoded block
    commit: bytes  # the encoded commit certificate
    app_hash: bytes
    writes: Mapping[bytes, bytes | None]
    tx_index: Mapping[bytes, bytes]  # tx_id -> index record, for ids first used at this height
    results: bytes = b""  # the block's result leaves, encoded (to build receipts later)


class StoreError(Exception):
    """The store could not complete a write (full, I/O error). It stays at the previous height."""


class Store(Protocol):
    """Durable storage for one validator. Every method returns only once its effect is durable."""

    def load_sign_state(self) -> bytes | None: ...

    def save_sign_state(self, data: bytes) -> None:
        """Synced before returning: a signature guarded by `data` may leave after this."""
        ...

    def save_height(self, record: HeightRecord) -> None:
        """Atomically and durably: the block, its commit, state writes, index entries, new
        height. An index entry is never overwritten (a tx_id commits once): one already present
        is a StoreError. Raises StoreError and leaves the store unchanged on failure."""
        ...

    def last_height(self) -> int:
        """The highest committed height, 0 for an empty store."""
        ...

    def load_block(self, height: int) -> bytes | None: ...

    def load_commit(self, height: int) -> bytes | None: ...

    def load_app_hash(self, height: int) -> bytes | None: ...

    def load_results(self, height: int) -> bytes | None:
        """The encoded result leaves saved with block `height`."""
        ...

    def load_tx_index(self, tx_id: bytes) -> bytes | None:
        """The index record of a committed tx_id (None if it never committed)."""
        ...

    def get_state(self, key: bytes) -> bytes | None: ...

    def iter_state(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """State entries whose key starts with `prefix`, in key order."""
        ...

    def close(self) -> None: ...
