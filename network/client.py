"""The Python SDK: build and sign transactions, submit them anywhere, and prove them final.

A bank's payment system talks to any validator it likes, so `DepositClient` takes several
node URLs and trusts none of them: what it reports as final it has checked itself against the
GENESIS file it was given (`network.client_proofs`).

The one call most clients need is `submit_and_wait(signed_bytes)`: it submits the bytes,
re-sends the very same bytes to other validators on timeouts, 503s, connection errors and
lost acceptance, and returns a `FinalReceipt` once a receipt proves that exactly these bytes
committed and with which outcome; or raises `TxExpired` / `TxIdUsed` when the transaction
provably can never commit (`network.client_wait` explains how). Retrying is always safe: a
tx_id commits at most once, ever, and its id is derived from the signer and a 16-byte nonce
(`ledger.tx`), so a client that re-sends what it signed can never pay twice. What it must
never do is sign again with a new nonce after an answer it did not understand: that is a new
payment.

Builders sign with a fresh random nonce, or the one given (derived from the client's own
payment reference, say); `valid_until_ms` comes from the chain time of a latest header whose
certificate the client verified. Validators that serve proofs which do not verify are
recorded in `suspects` and not asked again for proofs.

Batches go as msgpack (`POST /txs/batch`, an array of raw transactions) and `raw_block` reads a
block as the validator stored it (`GET /blocks/{h}/raw`): neither side pays for hex or JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import httpx
import msgpack

from consensus.crypto import Signer
from ledger.genesis import Genesis
from ledger.receipt import ReceiptError
from ledger.tx import Body
from network.client_errors import (
    ClientError,
    FinalityError,
    FinalityTimeout,
    NodeUnavailable,
    RequestFailed,
    TxExpired,
    TxIdUsed,
    TxRejected,
)
from network.client_proofs import (
    FinalReceipt,
    RawBlock,
    VerifiedHeader,
    check_receipt,
    parse_raw_block,
    precheck,
    verify_header_body,
    verify_raw_block,
)
from network.client_signing import generate_signer, load_signer, sign_body
from network.client_wire import (
    ServedCommit,
    SubmitResult,
    is_verdict,
    parse_committed,
    refused,
    submit_result,
)

__all__ = [
    "ClientError",
    "DepositClient",
    "FinalReceipt",
    "FinalityError",
    "FinalityTimeout",
    "NodeUnavailable",
    "RawBlock",
    "RequestFailed",
    "ServedCommit",
    "SubmitResult",
    "TxExpired",
    "TxIdUsed",
    "TxRejected",
    "VerifiedHeader",
    "generate_signer",
    "load_signer",
    "parse_raw_block",
    "percentile",
    "sign_body",
    "verify_raw_block",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MSGPACK = "application/msgpack"


class DepositClient:
    """Talks to a set of validators of the chain described by `genesis`; use `async with`."""

    def __init__(
        self,
        node_urls: Sequence[str],
        genesis: Genesis,
        *,
        timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        urls = [u.rstrip("/") for u in node_urls]
        if not urls:
            raise ClientError("at least one node URL is required")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ClientError(f"node URL {url!r} must start with http:// or https://")
        if len(set(urls)) != len(urls):
            raise ClientError("a node URL is listed twice")
        self.node_urls = urls
        self.genesis = genesis
        self.timeout_s = timeout_s
        self.suspects: dict[str, str] = {}  # node URL -> why its proof was refused
        self._preferred = 0
        self._http = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def __aenter__(self) -> DepositClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------ plumbing

    def ordered_urls(self) -> list[str]:
        """Node URLs, the last one that worked first, suspects last."""
        n = len(self.node_urls)
        urls = [self.node_urls[(self._preferred + i) % n] for i in range(n)]
        return sorted(urls, key=lambda u: u in self.suspects)  # stable: keeps the rotation

    def prefer(self, url: str) -> None:
        """Ask `url` first from now on (it just worked)."""
        self._preferred = self.node_urls.index(url)

    def suspect(self, url: str, why: str) -> None:
        """Record that `url` served something that does not verify (kept: first reason)."""
        self.suspects.setdefault(url, why)

    async def request_one(
        self,
        url: str,
        method: str,
        path: str,
        json: dict[str, Any] | None = None,
        *,
        msgpack_body: bytes | None = None,
        parse: Callable[[httpx.Response], Any] = httpx.Response.json,
    ) -> tuple[int, Any]:
        """(status, parsed body) from validator `url`; NodeUnavailable if it does not answer,
        answers 429/5xx, or with a body `parse` refuses (ValueError from it means garbage)."""
        headers = None if msgpack_body is None else {"content-type": MSGPACK}
        try:
            response = await self._http.request(
                method, url + path, json=json, content=msgpack_body, headers=headers
            )
            body = parse(response)
        except (httpx.HTTPError, ValueError) as exc:
            raise NodeUnavailable(f"{url}: {type(exc).__name__}") from None
        if response.status_code in RETRY_STATUSES:
            raise NodeUnavailable(f"{url}: HTTP {response.status_code}")
        return response.status_code, body

    async def _request(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None = None,
        *,
        msgpack_body: bytes | None = None,
        parse: Callable[[httpx.Response], Any] = httpx.Response.json,
    ) -> tuple[str, int, Any]:
        """(url, status, parsed body) from the first validator that answers usefully."""
        failures: list[str] = []
        for url in self.ordered_urls():
            try:
                status, body = await self.request_one(
                    url, method, path, json, msgpack_body=msgpack_body, parse=parse
                )
            except NodeUnavailable as exc:
                failures.append(str(exc))
                continue
            self.prefer(url)
            return url, status, body
        raise NodeUnavailable("no validator answered: " + "; ".join(failures))

    async def _get(self, path: str) -> tuple[str, Any]:
        url, status, body = await self._request("GET", path)
        if status >= 400:
            raise refused(status, body)
        return url, body

    # ------------------------------------------------------------ reads

    async def status(self) -> dict[str, Any]:
        return (await self._get("/status"))[1]

    async def account(self, key: bytes) -> dict[str, Any]:
        return (await self._get(f"/accounts/{key.hex()}"))[1]

    async def block(self, height: int | str) -> dict[str, Any]:
        return (await self._get(f"/blocks/{height}"))[1]

    async def raw_block(self, height: int | str) -> RawBlock:
        """Block `height` (or "latest") and its commit certificate as the validator stores
        them, without JSON; not verified: pass `block` and `commit` to `verify_raw_block`."""

        def parse(response: httpx.Response) -> Any:
            if response.status_code == 200:
                return parse_raw_block(response.content)  # DecodeError is a ValueError
            return response.json()

        url, status, body = await self._request("GET", f"/blocks/{height}/raw", parse=parse)
        if status != 200 or not isinstance(body, RawBlock):
            raise refused(status, body)
        return attrs.evolve(body, node_url=url)

    async def tx(self, tx_id: bytes) -> dict[str, Any]:
        """A validator's `GET /txs/{id}` answer as it is (not verified)."""
        return (await self._get(f"/txs/{tx_id.hex()}"))[1]

    async def latest_height(self) -> int:
        height = (await self.status()).get("height")
        if type(height) is not int or height < 0:
            raise ClientError("a validator reported no height")
        return height

    async def latest_header(self) -> VerifiedHeader | None:
        """The latest block header whose certificate verifies against the genesis, from the
        first validator that serves one (None if those that answer have no block yet). A
        lying validator can at worst serve an older certified header."""
        failures: list[str] = []
        empty = False
        for url in self.ordered_urls():
            try:
                status, body = await self.request_one(url, "GET", "/blocks/latest/header")
            except NodeUnavailable as exc:
                failures.append(str(exc))
                continue
            if status == 404:
                empty = True  # no block yet, it says: another may know better
                continue
            try:
                verified = verify_header_body(self.genesis, body, url)
            except FinalityError as exc:
                self.suspect(url, f"latest header: {exc}")
                failures.append(f"{url}: {exc}")
                continue
            self.prefer(url)
            return verified
        if empty:
            return None
        raise NodeUnavailable("no verified header: " + "; ".join(failures))

    async def chain_time_ms(self) -> int:
        """The time of the latest certified block (the genesis time before any block)."""
        header = await self.latest_header()
        return self.genesis.genesis_time_ms if header is None else header.header.time_ms

    async def find_receipt(self, signed: bytes) -> FinalReceipt | None:
        """Ask each validator once for the receipt of `signed`; the first that verifies, or
        None if none serves one (TxIdUsed if a verified one shows another transaction took
        its id; validators serving receipts that do not verify become suspects)."""
        tx_id = precheck(self.genesis, signed).tx.tx_id
        for url in self.ordered_urls():
            if url in self.suspects:
                continue
            try:
                status, body = await self.request_one(url, "GET", f"/txs/{tx_id.hex()}")
                served = parse_committed(body.get("committed") if status == 200 else None)
            except (NodeUnavailable, AttributeError):
                continue
            except ValueError as exc:
                self.suspect(url, f"malformed committed answer: {exc}")
                continue
            if served is None:
                continue
            try:
                return self.judge(url, served, signed)
            except ReceiptError as exc:
                self.suspect(url, f"receipt of {tx_id.hex()}: {exc}")
        return None

    def judge(self, url: str, served: ServedCommit, signed: bytes) -> FinalReceipt:
        """A served receipt of `signed`, verified (ReceiptError: a lie; TxIdUsed)."""
        return check_receipt(
            self.genesis, served.receipt, signed=signed, message=served.message, node_url=url
        )

    # ------------------------------------------------------------ writes

    async def submit(self, tx_bytes: bytes) -> SubmitResult:
        """Offer signed bytes to a validator (the next one if it is down or full)."""
        url, status, body = await self._request("POST", "/txs", {"tx": tx_bytes.hex()})
        if not is_verdict(body):
            raise refused(status, body)
        return submit_result(body, url)

    async def submit_to(self, url: str, tx_bytes: bytes) -> SubmitResult:
        """Offer signed bytes to validator `url` only (NodeUnavailable if it does not
        answer with a verdict, or is busy)."""
        status, body = await self.request_one(url, "POST", "/txs", {"tx": tx_bytes.hex()})
        if not is_verdict(body):
            raise NodeUnavailable(f"{url}: HTTP {status} without a verdict")
        return submit_result(body, url)

    async def submit_batch(self, txs: Sequence[bytes]) -> list[SubmitResult]:
        """Offer up to 500 signed transactions in one request (msgpack: the raw bytes, no hex);
        one verdict each, in order."""
        packed = msgpack.packb([bytes(tx) for tx in txs], use_bin_type=True)
        url, status, body = await self._request("POST", "/txs/batch", msgpack_body=packed)
        results = body.get("results") if isinstance(body, dict) else None
        if status != 200 or not isinstance(results, list) or len(results) != len(txs):
            raise refused(status, body)
        return [submit_result(verdict, url) for verdict in results]

    async def prepare(
        self,
        signer: Signer,
        body: Body,
        *,
        nonce: bytes | None = None,
        valid_for_ms: int | None = None,
    ) -> tuple[bytes, bytes]:
        """(tx_id, signed bytes) of `body`, with `nonce` (random if None), valid for
        `valid_for_ms` (default half the genesis window) after the verified chain time."""
        window_ms = self.genesis.limits.max_validity_window_ms
        valid_for_ms = window_ms // 2 if valid_for_ms is None else valid_for_ms
        if not 0 < valid_for_ms <= window_ms:
            raise ClientError(f"valid_for_ms must be in 1..{window_ms} (the genesis window)")
        until = await self.chain_time_ms() + valid_for_ms
        return sign_body(signer, self.genesis.chain_id, body, valid_until_ms=until, nonce=nonce)

    async def send(
        self, signer: Signer, body: Body, *, nonce: bytes | None = None
    ) -> tuple[bytes, SubmitResult]:
        """Sign `body` and submit it once; (tx_id, verdict)."""
        tx_id, wire = await self.prepare(signer, body, nonce=nonce)
        return tx_id, await self.submit(wire)

    # ------------------------------------------------------------ finality

    async def submit_and_wait(
        self,
        signed: bytes,
        *,
        timeout_s: float | None = None,
        resend_after_s: float = 2.0,
        poll_s: float = 0.05,
    ) -> FinalReceipt:
        """Submit `signed` and wait until a verified receipt proves it final (see
        `network.client_wait`). Raises TxExpired or TxIdUsed if it can never commit,
        TxRejected if every validator refuses it for good, FinalityTimeout after
        `timeout_s` (None: wait until final or expired), ClientError if the bytes are not
        a transaction of this chain."""
        from network.client_wait import wait_until_final

        return await wait_until_final(
            self, signed, timeout_s=timeout_s, resend_after_s=resend_after_s, poll_s=poll_s
        )

    async def sign_and_wait(
        self,
        signer: Signer,
        body: Body,
        *,
        nonce: bytes | None = None,
        timeout_s: float | None = None,
    ) -> FinalReceipt:
        """Sign `body` (`prepare`) and `submit_and_wait` the bytes."""
        _tx_id, wire = await self.prepare(signer, body, nonce=nonce)
        return await self.submit_and_wait(wire, timeout_s=timeout_s)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; for benchmark summaries."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
