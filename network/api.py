"""The HTTP API every validator serves: submit transactions, read the chain, follow events.

`create_app(node, limits=...)` builds a FastAPI app over a `NodeView` and nothing else. Handlers
are async but only call the view's cheap synchronous methods, so no request can hold up
consensus; the event streams wait on `node.wait_for_height`, which just parks on the node's
commit event. Nothing waits for a commit behind a hidden timeout: `POST /txs` answers with the
mempool's verdict at once, and clients follow a tx through `GET /txs/{id}` or its event stream.

Receipts. `GET /txs/{id}` answers a committed transaction with its receipt (the signed bytes,
the result, both Merkle paths, the header and its commit certificate: `ledger/receipt.py`)
and the readable fields beside it, never the whole block; `GET /txs/{id}/receipt` is the same
receipt as raw bytes. A submission that is a later use of a committed id carries the id's
first use (`committed`): the client's own transaction with ALREADY_COMMITTED (an exact
re-send: the first outcome comes back), or, with DUPLICATE_TX_ID, the different transaction
that took the id, so a client can check it is not its own. Receipts come from durable data
only (`network/receipts.py`, with a small cache of recent blocks' trees).

Status codes (stable; the body of every error is `{"error": {"code", "message"}}`):
  202 tx accepted into the mempool; 200 tx already known (ALREADY_IN_MEMPOOL/ALREADY_COMMITTED,
  so a retry is harmless); 422 tx rejected, with the ledger's code in the SubmitTxResponse;
  503 MEMPOOL_FULL or too many open streams (with Retry-After); 400 BAD_REQUEST for malformed
  JSON, fields, hex or base64; 404 NOT_FOUND; 405 METHOD_NOT_ALLOWED; 413 BODY_TOO_LARGE;
  429 RATE_LIMITED (with Retry-After). A 500 is always our bug, never the client's input.

Binary forms for high-volume clients (indexers, payment gateways), so that neither side pays
for hex, JSON or pydantic: `POST /txs/batch` also takes `Content-Type: application/msgpack`
with a msgpack array of bin (raw signed transactions; same limits and JSON verdicts), and
`GET /blocks/{height}/raw` answers `application/msgpack`, the stored block and commit bytes
without decoding a single transaction. Their errors are the same JSON error shape.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

import depositnet
from consensus.interfaces import TxAdmission
from ledger.codes import REUSE_CODES as LEDGER_REUSE_CODES
from ledger.tx import KEY_SIZE, TX_ID_SIZE
from network import api_models as m
from network import api_render as render
from network.api_events import EventStreams
from network.api_limits import ApiLimits, LimitsMiddleware, RateLimiter
from network.api_params import (
    ApiError,
    decode_msgpack_batch,
    decode_tx_text,
    is_msgpack,
    parse_height,
    parse_hex,
)
from network.metrics import CONTENT_TYPE, NodeMetrics
from network.nodeview import NodeView
from network.receipts import StoredDataError

log = logging.getLogger("depositnet.api")

KNOWN_CODES = frozenset({"ALREADY_IN_MEMPOOL", "ALREADY_COMMITTED"})
REUSE_CODES = frozenset(code.value for code in LEDGER_REUSE_CODES)
BUSY_CODES = frozenset({"MEMPOOL_FULL"})
_ERRORS = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "BODY_TOO_LARGE"}


def error_response(status: int, code: str, message: str, **kw: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, **kw)


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": m.ErrorResponse, "description": "malformed request"},
    429: {"model": m.ErrorResponse, "description": "rate limited (see Retry-After)"},
}


def _verdict(node: NodeView, admission: TxAdmission) -> dict[str, Any]:
    """A submission's answer; a later use of a committed id names its first use."""
    tx_id = admission.tx_id or None
    return {
        "tx_id": None if tx_id is None else tx_id.hex(),
        "accepted": admission.accepted,
        "code": admission.code,
        "message": admission.message,
        "committed": render.first_use_json(node, tx_id) if admission.code in REUSE_CODES else None,
    }


def _batch_route(on_msgpack: Callable[[Request], Awaitable[Response]]) -> type[APIRoute]:
    """A route class sending msgpack bodies to `on_msgpack` and everything else to FastAPI's
    usual JSON validation, untouched (one path, one OpenAPI operation, two content types)."""

    class BatchRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            on_json = super().get_route_handler()

            async def handler(request: Request) -> Response:
                if is_msgpack(request.headers.get("content-type")):
                    return await on_msgpack(request)
                return await on_json(request)

            return handler

    return BatchRoute


def create_app(
    node: NodeView,
    *,
    limits: ApiLimits,
    metrics: NodeMetrics | None = None,
    rate_clock: Callable[[], float] | None = None,
) -> FastAPI:
    """The API app over `node`; `metrics` (the node's) are served at /metrics."""
    node_metrics = metrics if metrics is not None else NodeMetrics()
    app = FastAPI(
        title="depositnet validator API",
        version=depositnet.__version__,
        description=__doc__,
        docs_url=None,
        redoc_url=None,
    )
    limiter = RateLimiter(limits) if rate_clock is None else RateLimiter(limits, rate_clock)
    app.add_middleware(
        LimitsMiddleware, limits=limits, limiter=limiter, on_status=node_metrics.api_response
    )
    streams = EventStreams(node, limits)
    app.state.streams = streams

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(400, "BAD_REQUEST", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _ERRORS.get(exc.status_code, "HTTP_ERROR")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(render.RenderError)
    @app.exception_handler(StoredDataError)
    async def _render(request: Request, exc: Exception) -> JSONResponse:
        log.error("stored data does not decode: %s", exc)
        return error_response(500, "INTERNAL", "this validator's stored data does not decode")

    @app.post(
        "/txs",
        status_code=202,
        response_model=m.SubmitTxResponse,
        responses={
            200: {"model": m.SubmitTxResponse, "description": "already known (a safe retry)"},
            422: {"model": m.SubmitTxResponse, "description": "rejected: see code"},
            503: {"model": m.SubmitTxResponse, "description": "mempool full (see Retry-After)"},
            **_ERROR_RESPONSES,
        },
    )
    async def submit_tx(request: m.SubmitTxRequest) -> Any:
        """Offer a signed transaction to this validator's mempool; the verdict comes at once."""
        admission = node.submit_tx(decode_tx_text(request.tx, request.encoding))
        body = _verdict(node, admission)
        if admission.accepted:
            return JSONResponse(body, status_code=202)
        if admission.code in KNOWN_CODES:
            return JSONResponse(body, status_code=200)
        if admission.code in BUSY_CODES:
            return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
        return JSONResponse(body, status_code=422)

    def batch_verdicts(txs: list[bytes]) -> dict[str, Any]:
        """The `POST /txs/batch` body: every tx judged as by `POST /txs`, in order."""
        return {"results": [_verdict(node, node.submit_tx(tx)) for tx in txs]}

    async def submit_batch(request: m.SubmitBatchRequest) -> Any:
        """Offer up to 500 signed transactions in one request; one verdict each, in order.

        The body is JSON (`txs` as hex or base64 strings) or, with `Content-Type:
        application/msgpack`, a msgpack array of bin holding the raw transactions (cheaper for
        both sides). Every transaction is judged on its own, exactly as by `POST /txs`; the
        request is refused whole (400) only if the body is malformed or a tx does not decode
        from its text form.
        """
        return batch_verdicts([decode_tx_text(tx, request.encoding) for tx in request.txs])

    async def submit_msgpack_batch(request: Request) -> Response:
        return JSONResponse(batch_verdicts(decode_msgpack_batch(await request.body())))

    app.router.add_api_route(
        "/txs/batch",
        submit_batch,
        methods=["POST"],
        response_model=m.SubmitBatchResponse,
        responses=_ERROR_RESPONSES,
        route_class_override=_batch_route(submit_msgpack_batch),
        openapi_extra={"requestBody": {"content": {m.MSGPACK: {"schema": m.MSGPACK_BATCH_SCHEMA}}}},
    )

    @app.get("/txs/{tx_id}", response_model=m.TxStatusResponse, responses=_ERROR_RESPONSES)
    async def tx_status(tx_id: str = m.TX_ID_PATH) -> Any:
        """Pending, committed (with its receipt) or unknown, as of `checked_height`."""
        return render.tx_status_body(node, parse_hex(tx_id, TX_ID_SIZE, "tx_id"))

    @app.get(
        "/txs/{tx_id}/receipt",
        response_class=Response,
        responses={
            200: {
                "description": "the encoded receipt (canonical msgpack, ledger/receipt.py)",
                "content": {m.RECEIPT_MEDIA_TYPE: {"schema": m.BINARY_SCHEMA}},
            },
            404: {"model": m.ErrorResponse, "description": "not committed (yet) here"},
            **_ERROR_RESPONSES,
        },
    )
    async def tx_receipt(tx_id: str = m.TX_ID_PATH) -> Response:
        """A committed transaction's receipt as raw bytes (what `GET /txs/{id}` holds as hex)."""
        key = parse_hex(tx_id, TX_ID_SIZE, "tx_id")
        committed = node.tx_status(key).committed
        if committed is None:
            raise ApiError(404, "NOT_FOUND", f"no committed transaction {tx_id} here")
        return Response(committed.receipt, media_type=m.RECEIPT_MEDIA_TYPE)

    @app.get("/accounts/{key}", response_model=m.AccountResponse, responses=_ERROR_RESPONSES)
    async def account(key: str = m.KEY_PATH) -> Any:
        """A participant's status and balances per currency at the latest height."""
        public_key = parse_hex(key, KEY_SIZE, "key")
        height = node.latest_height()
        return render.account_json(node.account(public_key), height)

    not_found: dict[int | str, dict[str, Any]] = {
        404: {"model": m.ErrorResponse, "description": "no such block"}
    }

    @app.get("/blocks/latest", response_model=m.BlockJson, responses=not_found)
    async def latest_block() -> Any:
        """The last committed block, with its commit certificate."""
        return render.block_body(node, node.latest_height())

    @app.get(
        "/blocks/{height}", response_model=m.BlockJson, responses={**not_found, **_ERROR_RESPONSES}
    )
    async def block(height: str = m.HEIGHT_PATH) -> Any:
        """The committed block at `height`, with its commit certificate."""
        return render.block_body(node, parse_height(height))

    @app.get("/blocks/latest/header", response_model=m.HeaderResponse, responses=not_found)
    async def latest_header() -> Any:
        """The last committed block's header and commit certificate (no transactions)."""
        return render.header_body(node, node.latest_height())

    @app.get(
        "/blocks/{height}/header",
        response_model=m.HeaderResponse,
        responses={**not_found, **_ERROR_RESPONSES},
    )
    async def header(height: str = m.HEIGHT_PATH) -> Any:
        """Block `height`'s header and commit certificate, without its transactions."""
        return render.header_body(node, parse_height(height))

    raw_responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "the stored block and commit, msgpack (see the schema)",
            "content": {m.MSGPACK: {"schema": m.RAW_BLOCK_SCHEMA}},
        },
        **not_found,
        **_ERROR_RESPONSES,
    }

    def raw_block_response(height: int) -> Response:
        committed = render.committed_block(node, height)
        return Response(render.raw_block_msgpack(committed), media_type=m.MSGPACK)

    @app.get("/blocks/latest/raw", response_class=Response, responses=raw_responses)
    async def latest_raw_block() -> Response:
        """The last committed block and its commit as stored, in msgpack (nothing decoded)."""
        return raw_block_response(node.latest_height())

    @app.get("/blocks/{height}/raw", response_class=Response, responses=raw_responses)
    async def raw_block(height: str = m.HEIGHT_PATH) -> Response:
        """The committed block at `height` and its commit certificate exactly as this
        validator stores them, in msgpack: no transaction is decoded, no JSON rendered."""
        return raw_block_response(parse_height(height))

    @app.get("/status", response_model=m.StatusResponse)
    async def status() -> Any:
        """Height, round, step, peers, catch-up state and validator set of this validator."""
        return render.status_json(node.status(), node.validators)

    @app.get("/validators", response_model=m.ValidatorsResponse)
    async def validators() -> Any:
        return render.validators_json(node.chain_id, node.validators)

    @app.get("/metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus text exposition of this validator's metrics."""
        return Response(node_metrics.render(), media_type=CONTENT_TYPE)

    streams.add_routes(app)
    return app
