"""Server-sent event streams: new committed blocks, and one transaction until it commits.

Streams only park on `node.wait_for_height` (the node's commit signal), inside a bounded wait
so a comment line (`: keepalive`) goes out every `stream_keepalive_s`; a disconnected client is
noticed at the latest then. At most `max_streams` are open at once (503 beyond). A tx stream
ends when the tx commits, or with an explicit `timeout` event after the `timeout_s` the client
asked for: nothing here waits behind a hidden timeout.

Event format (`text/event-stream`): `event: block` with `id: <height>` and data
`{"height", "block_id", "tx_count", "time_ms"}`; `event: status` with the `GET /txs/{id}` body;
`event: timeout` with `{"tx_id", "waited_s"}`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import trio
from fastapi import FastAPI, Query
from fastapi.responses import StreamingResponse

from ledger.tx import TX_ID_SIZE
from network import api_render as render
from network.api_limits import ApiLimits
from network.api_models import TX_ID_PATH
from network.api_params import MAX_HEIGHT, ApiError, parse_hex
from network.nodeview import NodeView, TxState

SSE_MEDIA_TYPE = "text/event-stream"


def sse(event: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    """One server-sent event (data on a single line: JSON never holds a raw newline)."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return (head + "data: " + json.dumps(data, separators=(",", ":")) + "\n\n").encode()


KEEPALIVE = b": keepalive\n\n"


class EventStreams:
    """The two event routes and the count of open streams."""

    def __init__(self, node: NodeView, limits: ApiLimits) -> None:
        self.node = node
        self.limits = limits
        self.open = 0

    def _admit(self) -> None:
        if self.open >= self.limits.max_streams:
            raise ApiError(
                503, "TOO_MANY_STREAMS", "too many open event streams", {"Retry-After": "5"}
            )

    async def _wait(self, height: int) -> bool:
        """Wait (bounded by the keepalive period) for `height`; True once it is committed."""
        with trio.move_on_after(self.limits.stream_keepalive_s):
            await self.node.wait_for_height(height)
        return self.node.latest_height() >= height

    async def blocks(self, from_height: int | None, limit: int | None) -> AsyncIterator[bytes]:
        self.open += 1
        try:
            height = self.node.latest_height() + 1 if from_height is None else from_height
            sent = 0
            yield b": blocks from height %d\n\n" % height
            while limit is None or sent < limit:
                if self.node.latest_height() < height and not await self._wait(height):
                    yield KEEPALIVE
                    continue
                committed = self.node.block(height)
                if committed is not None:
                    block, _commit = render.decode_committed(committed)
                    data = {
                        "height": height,
                        "block_id": committed.block_id.hex(),
                        "tx_count": len(block.txs),
                        "time_ms": block.header.time_ms,
                    }
                    yield sse("block", data, height)
                    sent += 1
                height += 1
        finally:
            self.open -= 1

    async def tx(self, tx_id: bytes, timeout_s: float) -> AsyncIterator[bytes]:
        self.open += 1
        try:
            deadline = trio.current_time() + timeout_s
            body = render.tx_status_body(self.node, tx_id)
            # the height the status was read at, taken before the yield: a block committed
            # while the event goes out is then waited for, not missed until the keepalive
            seen = self.node.latest_height()
            yield sse("status", body)
            while body["state"] != TxState.COMMITTED.value:
                if trio.current_time() >= deadline:
                    yield sse("timeout", {"tx_id": tx_id.hex(), "waited_s": timeout_s})
                    return
                with trio.move_on_at(deadline):
                    await self._wait(seen + 1)
                seen = self.node.latest_height()
                status = self.node.tx_status(tx_id)
                if status.state is TxState.COMMITTED:
                    body = render.tx_status_body(self.node, tx_id)
                    yield sse("status", body)
                else:
                    yield KEEPALIVE
        finally:
            self.open -= 1

    def add_routes(self, app: FastAPI) -> None:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}

        @app.get("/events/blocks", response_class=StreamingResponse)
        async def block_events(
            from_height: int | None = Query(default=None, ge=1, le=MAX_HEIGHT),
            limit: int | None = Query(default=None, ge=1, le=1_000_000),
        ) -> StreamingResponse:
            """Server-sent events, one per committed block (from `from_height`, default next)."""
            self._admit()
            return StreamingResponse(
                self.blocks(from_height, limit), media_type=SSE_MEDIA_TYPE, headers=headers
            )

        @app.get("/events/txs/{tx_id}", response_class=StreamingResponse)
        async def tx_events(
            tx_id: str = TX_ID_PATH,
            timeout_s: float = Query(default=60.0, gt=0, le=self.limits.max_stream_s),
        ) -> StreamingResponse:
            """Server-sent `status` events for one tx: now, then once committed (then ends)."""
            key = parse_hex(tx_id, TX_ID_SIZE, "tx_id")
            self._admit()
            return StreamingResponse(
                self.tx(key, timeout_s), media_type=SSE_MEDIA_TYPE, headers=headers
            )
