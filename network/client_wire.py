"""The SDK's reading of validators' answers: verdicts and claimed commits, not yet trusted.

Parsing only: a `ServedCommit` is what a validator *says* committed, with the receipt that
should prove it; `network.client_proofs.check_receipt` decides whether it does.
"""

from __future__ import annotations

import attrs

from network.client_errors import RequestFailed


@attrs.frozen
class ServedCommit:
    """A validator's claim that a tx_id committed, with the receipt that should prove it
    (nothing here is checked: `check_receipt` does that)."""

    tx_id: bytes
    height: int
    index: int
    code: str
    message: str
    receipt: bytes


def parse_committed(value: object) -> ServedCommit | None:
    """The `committed` object of a `POST /txs` or `GET /txs/{id}` answer; None if absent;
    ValueError if it is there but malformed."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("committed is not an object")
    try:
        tx_id, receipt = bytes.fromhex(value["tx_id"]), bytes.fromhex(value["receipt"])
        height, index = value["height"], value["index"]
        code, message = value["code"], value.get("message", "")
    except (KeyError, TypeError, ValueError):
        raise ValueError("committed lacks tx_id, receipt, height, index or code") from None
    if type(height) is not int or type(index) is not int:
        raise ValueError("committed height and index must be integers")
    if not isinstance(code, str) or not isinstance(message, str):
        raise ValueError("committed code and message must be strings")
    return ServedCommit(tx_id, height, index, code, message, receipt)


@attrs.frozen
class SubmitResult:
    tx_id: bytes | None
    accepted: bool  # newly admitted to a mempool
    code: str
    message: str
    node_url: str
    committed: ServedCommit | None = None  # a later use of a committed id: its first use

    @property
    def known(self) -> bool:
        """Already pending or committed: a retry of something that went through."""
        return self.code in ("ALREADY_IN_MEMPOOL", "ALREADY_COMMITTED")

    @property
    def ok(self) -> bool:
        return self.accepted or self.known


def refused(status: int, body: object) -> RequestFailed:
    """The RequestFailed for a refusal, with the code and message of its error body if any."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    return RequestFailed(status, str(error.get("code", status)), str(error.get("message")))


def submit_result(verdict: object, url: str) -> SubmitResult:
    """A `POST /txs` verdict (or one of a batch's) as a SubmitResult; MALFORMED if no dict.
    A malformed `committed` part is dropped (its receipt could prove nothing anyway)."""
    if not isinstance(verdict, dict):
        return SubmitResult(tx_id=None, accepted=False, code="MALFORMED", message="", node_url=url)
    tx_id = verdict.get("tx_id")
    try:
        committed = parse_committed(verdict.get("committed"))
    except ValueError:
        committed = None
    try:
        parsed_id = bytes.fromhex(tx_id) if isinstance(tx_id, str) else None
    except ValueError:
        parsed_id = None
    return SubmitResult(
        tx_id=parsed_id,
        accepted=bool(verdict.get("accepted")),
        code=str(verdict.get("code")),
        message=str(verdict.get("message", "")),
        node_url=url,
        committed=committed,
    )


def is_verdict(body: object) -> bool:
    """Is this a `POST /txs` verdict (as opposed to an error or garbage)?"""
    return isinstance(body, dict) and "accepted" in body and "code" in body
