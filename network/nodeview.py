"""What the client API may ask of a running validator, and nothing more.

The HTTP API (`network/api*.py`) depends only on this protocol, never on the node's internals, so
it can be tested against a small fake and so that no API call can block consensus: every method
here is synchronous and cheap (reads of in-memory state or of committed data in the store),
except `wait_for_height`, which only waits on an event the node sets after each commit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Protocol

import attrs

from consensus.interfaces import TxAdmission
from consensus.messages import ValidatorSet
from ledger.queries import AccountView


class TxState(enum.Enum):
    PENDING = "pending"  # in this validator's mempool
    COMMITTED = "committed"
    UNKNOWN = "unknown"


@attrs.frozen
class CommittedTx:
    """Where and how a tx_id committed (its first use), with the receipt that proves it."""

    tx_id: bytes
    height: int
    index: int
    code: str
    message: str  # the ledger's wording: informational, in no root
    time_ms: int  # the block's time
    block_id: bytes
    receipt: bytes  # an encoded `ledger.receipt.Receipt`, built from durable data only


@attrs.frozen
class TxStatus:
    state: TxState
    checked_height: int  # the last durable height when this answer was read
    committed: CommittedTx | None = None  # when state is COMMITTED


@attrs.frozen
class AccountSnapshot:
    public_key: bytes
    registered: bool
    name: str
    frozen: bool
    kyc_expiry_height: int | None
    balances: Mapping[str, int]  # currency code -> minor units
    pending_redemptions: Mapping[str, int]


@attrs.frozen
class CommittedBlock:
    height: int
    block_id: bytes
    block: bytes  # the encoded block (consensus.replica.block codec)
    commit: bytes  # the encoded commit certificate (consensus.codec)


@attrs.frozen
class NodeStatus:
    chain_id: str
    node_key: bytes
    height: int  # the last committed height
    round: int  # the current consensus round at height + 1
    step: str
    peers: tuple[bytes, ...]
    catching_up: bool
    mempool_txs: int
    mempool_bytes: int


def account_snapshot(view: AccountView, pending: Mapping[str, int]) -> AccountSnapshot:
    """The API's account record from the ledger's view and the holder's pending redemptions."""
    return AccountSnapshot(
        public_key=view.public_key,
        registered=view.registered,
        name=view.name,
        frozen=view.frozen,
        kyc_expiry_height=view.kyc_expiry_height if view.registered else None,
        balances=dict(view.balances),
        pending_redemptions=dict(pending),
    )


class NodeView(Protocol):
    @property
    def chain_id(self) -> str: ...

    @property
    def validators(self) -> ValidatorSet: ...

    def submit_tx(self, tx: bytes) -> TxAdmission:
        """Offer a client transaction to the mempool; the verdict comes back at once."""
        ...

    def tx_status(self, tx_id: bytes) -> TxStatus:
        """Committed (with its receipt), pending in this validator's mempool, or unknown; a
        committed answer comes from durable data only, and "not committed" holds at least
        up to the `checked_height` it names."""
        ...

    def account(self, public_key: bytes) -> AccountSnapshot: ...

    def block(self, height: int) -> CommittedBlock | None: ...

    def latest_height(self) -> int: ...

    def status(self) -> NodeStatus: ...

    async def wait_for_height(self, height: int) -> None:
        """Return once a block at `height` or above is committed (callers add their own timeout)."""
        ...
