"""Limits that keep the HTTP API from hurting the validator: body size, rate, open streams.

Everything here is plain ASGI, in front of the FastAPI app, so an oversized or too-frequent
request is refused before any routing or JSON parsing happens:

- a request body larger than `max_body_bytes` gets 413 (from Content-Length when present,
  otherwise while the body is read; the body is buffered once, up to the limit, and replayed);
- each client address gets a token bucket (`rate_per_s`, `burst`); an empty bucket gets 429 with
  `Retry-After`. At most `max_clients` buckets are tracked; the least recently seen one is
  dropped first, so memory stays bounded whatever the number of addresses.
The clock is injected so tests can drive the buckets without sleeping.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@attrs.frozen
class ApiLimits:
    """Every limit of the API in one value (from the node's config)."""

    max_body_bytes: int = 256 * 1024
    rate_per_s: float = 200.0  # sustained requests per second per client address
    burst: int = 400  # requests a client may make at once
    max_clients: int = 10_000  # rate buckets tracked at once
    max_streams: int = 64  # open event streams (SSE) at once
    stream_keepalive_s: float = 15.0  # a comment line this often keeps idle streams alive
    max_stream_s: float = 3600.0  # the longest a tx stream may be asked to wait

    def __attrs_post_init__(self) -> None:
        if self.max_body_bytes < 1 or self.burst < 1 or self.max_clients < 1:
            raise ValueError("max_body_bytes, burst and max_clients must be at least 1")
        if not self.rate_per_s > 0 or self.max_streams < 0:
            raise ValueError("rate_per_s must be positive and max_streams not negative")
        if not (self.stream_keepalive_s > 0 and self.max_stream_s > 0):
            raise ValueError("stream times must be positive")


class RateLimiter:
    """Token buckets per client key, bounded in number (least recently used evicted)."""

    def __init__(self, limits: ApiLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = limits.rate_per_s
        self._burst = float(limits.burst)
        self._max = limits.max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> float:
        """Spend one token of `client`: 0.0 if allowed, else seconds until one is available."""
        now = self._clock()
        tokens, at = self._buckets.pop(client, (self._burst, now))
        tokens = min(self._burst, tokens + max(0.0, now - at) * self._rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        assert len(self._buckets) <= self._max
        return wait


async def send_json_error(
    send: Send, status: int, code: str, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """Answer with the API's error shape `{"error": {"code", "message"}}`."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    all_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


class LimitsMiddleware:
    """Rate limit, then body-size limit, then the app; reports each status to `on_status`."""

    def __init__(
        self,
        app: ASGIApp,
        limits: ApiLimits,
        *,
        limiter: RateLimiter | None = None,
        on_status: Callable[[int], None] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.limiter = limiter if limiter is not None else RateLimiter(limits)
        self.on_status = on_status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._counting(send)
        client = scope.get("client")
        wait = self.limiter.take(str(client[0]) if client else "-")
        if wait > 0:
            retry = str(max(1, math.ceil(wait))).encode()
            await send_json_error(
                send,
                429,
                "RATE_LIMITED",
                "too many requests from this address; slow down",
                ((b"retry-after", retry),),
            )
            return
        declared = _content_length(scope)
        if declared == -1:
            await send_json_error(send, 400, "BAD_REQUEST", "invalid Content-Length header")
            return
        if declared is not None and declared > self.limits.max_body_bytes:
            await self._too_large(send)
            return
        body = await self._read_body(receive)
        if body is None:
            await self._too_large(send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _counting(self, send: Send) -> Send:
        if self.on_status is None:
            return send
        report = self.on_status

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                report(int(message["status"]))
            await send(message)

        return counted

    async def _too_large(self, send: Send) -> None:
        limit = self.limits.max_body_bytes
        await send_json_error(
            send, 413, "BODY_TOO_LARGE", f"the request body exceeds {limit} bytes"
        )

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole request body, or None as soon as it exceeds the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # a disconnect: let the app see an empty body and the disconnect later
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _content_length(scope: Scope) -> int | None:
    """The declared body size; None if absent, -1 if malformed."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit() or len(text) > 18:
                return -1
            return int(text)
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
