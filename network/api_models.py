"""The JSON shapes of the HTTP API, as pydantic models (and so in the OpenAPI document).

Requests are validated here before a handler runs; responses are declared so the OpenAPI
document at `/openapi.json` tells clients exactly what comes back. Bytes travel as lowercase
hex strings; money as integers in minor units (JSON numbers, never floats). The two binary
forms (`application/msgpack`: raw blocks, batches of raw transactions) are declared here too,
as plain OpenAPI schemas.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from ledger.tx import KEY_SIZE, TX_ID_SIZE

MAX_TX_TEXT_CHARS = 350_000
"""A cap on the `tx` string; the body-size limit (413) normally fires first."""

# Path parameters, declared once so the OpenAPI document states their exact form.
RECEIPT_MEDIA_TYPE = "application/octet-stream"
BINARY_SCHEMA: dict[str, object] = {"type": "string", "format": "binary"}
TX_ID_PATH = Path(pattern=f"^[0-9a-fA-F]{{{2 * TX_ID_SIZE}}}$", description="tx id, hex")
KEY_PATH = Path(pattern=f"^[0-9a-fA-F]{{{2 * KEY_SIZE}}}$", description="public key, hex")
HEIGHT_PATH = Path(pattern="^[0-9]{1,19}$", description="a block height")


class SubmitTxRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tx: str = Field(
        min_length=1,
        max_length=MAX_TX_TEXT_CHARS,
        description="The signed transaction's canonical bytes, hex or base64",
    )
    encoding: Literal["hex", "base64"] = "hex"


MAX_BATCH_TXS = 500
"""Transactions per `POST /txs/batch` (500 hex-encoded transfers fit the body size limit)."""


class SubmitBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    txs: list[str] = Field(
        min_length=1,
        max_length=MAX_BATCH_TXS,
        description="signed transactions' canonical bytes, hex or base64, each as in POST /txs",
    )
    encoding: Literal["hex", "base64"] = "hex"


MSGPACK = "application/msgpack"

MSGPACK_BATCH_SCHEMA: dict[str, object] = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_BATCH_TXS,
    "items": {"type": "string", "format": "binary"},
    "description": "a msgpack array of bin: each a signed transaction's canonical bytes",
}
"""`POST /txs/batch` with Content-Type application/msgpack (no hex, no pydantic)."""

RAW_BLOCK_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["block", "block_id", "commit", "height"],
    "properties": {
        "block": {"type": "string", "format": "binary", "description": "the encoded block"},
        "block_id": {
            "type": "string",
            "format": "binary",
            "description": "the block id as this validator claims it (recompute it to verify)",
        },
        "commit": {
            "type": "string",
            "format": "binary",
            "description": "the encoded commit certificate",
        },
        "height": {"type": "integer"},
    },
    "description": "a canonical msgpack map (keys sorted, bytes as bin): the stored block and "
    "commit exactly as raw_block and raw_commit of GET /blocks/{height}, nothing decoded",
}
"""The body of `GET /blocks/{height}/raw` (application/msgpack)."""


class CommittedTxJson(BaseModel):
    """A tx_id's first use, as this validator's durable data holds it, with its receipt."""

    tx_id: str
    height: int
    index: int = Field(description="its position in the block")
    code: str = Field(description="the outcome it committed with (the receipt proves it)")
    message: str = Field(description="the ledger's wording of the outcome (not proven)")
    block_time_ms: int
    block_id: str
    receipt: str = Field(
        description="the encoded receipt, hex: the signed transaction, its result, both "
        "Merkle paths, the block header and its commit certificate (ledger/receipt.py); "
        "check it yourself, trusting no validator"
    )


class SubmitTxResponse(BaseModel):
    tx_id: str | None = Field(description="hex tx id; null if the bytes could not be decoded")
    accepted: bool
    code: str = Field(description="OK or the ledger's stable rejection code")
    message: str = ""
    committed: CommittedTxJson | None = Field(
        default=None,
        description="with ALREADY_COMMITTED, this very transaction's commit; with "
        "DUPLICATE_TX_ID, the different transaction that committed first with this id (so a "
        "client sees it is not its own); each with its receipt, once durable here",
    )


class SubmitBatchResponse(BaseModel):
    results: list[SubmitTxResponse] = Field(description="one verdict per tx, in request order")


class ErrorBody(BaseModel):
    code: str = Field(description="a stable machine-readable error code")
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class HeaderJson(BaseModel):
    chain_id: str
    height: int
    time_ms: int
    prev_block_id: str
    app_hash: str
    proposer: str
    num_txs: int
    txs_root: str
    results_root: str
    last_commit_hash: str
    evidence_hash: str


class PrecommitJson(BaseModel):
    validator: str
    signature: str


class CommitJson(BaseModel):
    height: int
    round: int
    block_id: str
    precommits: list[PrecommitJson]


class TxJson(BaseModel):
    tx_id: str | None
    kind: str | None
    signer: str | None
    valid_until_ms: int | None
    body: dict[str, object] | None
    raw: str = Field(description="the transaction's bytes, hex")


class BlockJson(BaseModel):
    height: int
    block_id: str
    header: HeaderJson
    tx_count: int
    txs: list[TxJson]
    last_commit: CommitJson | None
    evidence_count: int
    commit: CommitJson = Field(description="the certificate that this block is final")
    raw_block: str = Field(description="the encoded block, hex (verify it yourself)")
    raw_commit: str = Field(description="the encoded commit certificate, hex")


class TxStatusResponse(BaseModel):
    tx_id: str
    state: Literal["pending", "committed", "unknown"]
    checked_height: int = Field(
        description="this validator's last durable height when it answered: a pending or "
        "unknown transaction had not committed up to this height"
    )
    committed: CommittedTxJson | None = Field(
        default=None, description="for a committed tx: where, its outcome, and its receipt"
    )


class HeaderResponse(BaseModel):
    height: int
    block_id: str
    header: HeaderJson
    commit: CommitJson = Field(description="the certificate that this block is final")
    raw_header: str = Field(description="the canonical header bytes, hex (block id = their hash)")
    raw_commit: str = Field(description="the encoded commit certificate, hex")


class AccountResponse(BaseModel):
    public_key: str
    height: int
    registered: bool
    name: str
    frozen: bool
    kyc_expiry_height: int | None
    balances: dict[str, int]
    pending_redemptions: dict[str, int]


class ValidatorJson(BaseModel):
    public_key: str
    power: int
    name: str


class ValidatorsResponse(BaseModel):
    chain_id: str
    total_power: int
    validators: list[ValidatorJson]


class StatusResponse(BaseModel):
    chain_id: str
    node_key: str
    height: int
    round: int
    step: str
    peers: list[str]
    catching_up: bool
    mempool_txs: int
    mempool_bytes: int
    validators: ValidatorsResponse
