"""What the SDK raises: one class per thing a caller may want to handle differently.

Every message is one readable line. The three ends of `submit_and_wait` that are not a receipt
are kept apart because they call for different actions: `TxExpired` and `TxIdUsed` are
final (the transaction can never commit: a new payment needs a new id), `FinalityTimeout`
is not (it may still commit: wait again, or re-send the same bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from network.client_proofs import FinalReceipt


class ClientError(Exception):
    """Anything the SDK could not do; the message is one readable line."""


class NodeUnavailable(ClientError):
    """No validator answered usefully (all down, overloaded or returning garbage)."""


class RequestFailed(ClientError):
    """A validator refused the request (4xx); `status` and `code` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


class FinalityError(ClientError):
    """A validator's proof (a block's or header's certificate) does not hold; says why."""


class FinalityTimeout(ClientError):
    """No verified receipt arrived in time; the transaction may still commit later."""


class TxExpired(ClientError):
    """A certified block's time is past the transaction's `valid_until_ms` and no validator
    holds a receipt of it: it can never commit."""

    def __init__(self, tx_id: bytes, valid_until_ms: int, height: int, time_ms: int) -> None:
        super().__init__(
            f"tx {tx_id.hex()} expired without committing: block {height} (certified, time "
            f"{time_ms} ms) is past its valid_until_ms {valid_until_ms}; it can never commit"
        )
        self.tx_id, self.valid_until_ms, self.height, self.time_ms = (
            tx_id,
            valid_until_ms,
            height,
            time_ms,
        )


class TxIdUsed(ClientError):
    """A different transaction (signed by the same key with the same nonce) committed first
    under this tx_id, as a verified receipt proves: this one can never commit."""

    def __init__(self, first: FinalReceipt) -> None:
        super().__init__(
            f"tx_id {first.tx_id.hex()} was used by a different transaction, final at height "
            f"{first.height} (index {first.index}) with outcome {first.code}; this one can "
            "never commit"
        )
        self.first = first


class TxRejected(ClientError):
    """Every validator refused the transaction for a reason that will not pass (a code
    other than a busy mempool, a pending duplicate or the validity window)."""

    def __init__(self, tx_id: bytes, refusals: dict[str, str]) -> None:
        first = next(iter(refusals.values()), "no reason given")
        super().__init__(f"tx {tx_id.hex()} rejected: {first}")
        self.tx_id, self.refusals = tx_id, refusals
