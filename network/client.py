"""The Python SDK: build and sign transactions, submit them anywhere, and prove finality.

A bank's payment system talks to any validator it likes, so `DepositClient` takes several
node URLs. `submit` tries them in turn when one is down or overloaded; a transaction's `tx_id`
makes a retry harmless (the same bytes are never applied twice). `wait_final` trusts no
validator: it returns only once it holds a block and a commit certificate that it has checked
itself against the validator set of the GENESIS file it was given, with the transaction inside
that block. A validator that serves a forged, short or mismatched certificate is noted in
`suspects` and the client asks another one.

Batches go as msgpack (`POST /txs/batch`, an array of raw transactions) and `raw_block` reads a
block as the validator stored it (`GET /blocks/{h}/raw`): neither side pays for hex or JSON.
`verify_raw_block` checks such a block's certificate against the genesis, as `wait_final` does.

What a certificate cannot prove: the outcome code (OK, INSUFFICIENT_FUNDS, ...) is reported
by the validator; the block proves the transaction was ordered and final, not its result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import msgpack
import trio

from consensus import codec
from consensus.commit import CommitError, verify_commit
from consensus.crypto import Ed25519Signer, Signer
from consensus.messages import Commit
from consensus.replica.block import Block, Header, block_id, decode_block
from ledger.genesis import Genesis
from ledger.signing import make_tx, new_nonce
from ledger.tx import NONCE_SIZE, Body, derive_tx_id
from ledger.txcodec import TxDecodeError, decode_tx

MAX_BLOCK_BYTES = 64 << 20
"""The largest block the SDK will decode from a validator's answer."""
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MSGPACK = "application/msgpack"


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
    """A validator's proof of finality does not hold; the message says why."""


class FinalityTimeout(ClientError):
    """No verified proof of finality arrived in time (the tx may still commit later)."""


@attrs.frozen
class SubmitResult:
    tx_id: bytes | None
    accepted: bool  # newly admitted to a mempool
    code: str
    message: str
    node_url: str

    @property
    def known(self) -> bool:
        """Already pending or committed: a retry of something that went through."""
        return self.code in ("ALREADY_IN_MEMPOOL", "ALREADY_COMMITTED")

    @property
    def ok(self) -> bool:
        return self.accepted or self.known


@attrs.frozen
class FinalityProof:
    """A transaction's place in a block whose certificate this client verified itself."""

    tx_id: bytes
    height: int
    index: int
    code: str  # the outcome, as reported by `node_url` (not covered by the certificate)
    message: str
    block_id: bytes
    header: Header
    commit: Commit
    node_url: str


@attrs.frozen
class RawBlock:
    """A committed block as a validator stores it (`GET /blocks/{h}/raw`), not yet verified:
    `block` and `commit` are the encoded block and commit certificate, `block_id` is what the
    validator claims (`verify_raw_block` recomputes and checks everything)."""

    height: int
    block_id: bytes
    block: bytes
    commit: bytes
    node_url: str = ""


def parse_raw_block(data: bytes, node_url: str = "") -> RawBlock:
    """A `GET /blocks/{h}/raw` body (a canonical msgpack map); codec.DecodeError if not one."""
    obj = codec.unpackb_canonical(data, MAX_BLOCK_BYTES + (1 << 20))
    if not isinstance(obj, dict) or sorted(obj) != ["block", "block_id", "commit", "height"]:
        raise codec.DecodeError("expected a map of block, block_id, commit and height")
    height, bid, block, commit = obj["height"], obj["block_id"], obj["block"], obj["commit"]
    if type(height) is not int or not all(type(b) is bytes for b in (bid, block, commit)):
        raise codec.DecodeError("height must be an integer; block_id, block and commit bin")
    return RawBlock(height, bid, block, commit, node_url)


def verify_raw_block(
    genesis: Genesis, raw_block: bytes, raw_commit: bytes, height: int
) -> tuple[Block, Commit, bytes]:
    """(block, commit, block id) if `raw_block` decodes, is block `height` of the genesis's
    chain, and `raw_commit` is a certificate for it from more than 2/3 of the genesis
    validators' power; FinalityError saying why not otherwise. Transactions stay raw bytes."""
    try:
        block: Block = decode_block(raw_block, MAX_BLOCK_BYTES)
        commit = codec.decode_commit(raw_commit)
    except codec.DecodeError as exc:
        raise FinalityError(f"the proof does not decode: {exc}") from None
    header = block.header
    if header.chain_id != genesis.chain_id:
        raise FinalityError(f"the block is for chain {header.chain_id!r}")
    if header.height != height:
        raise FinalityError(f"the block is at height {header.height}, not {height}")
    bid = block_id(header)
    try:
        verify_commit(commit, genesis.validator_set(), genesis.chain_id, bid, height=height)
    except CommitError as exc:
        raise FinalityError(f"the commit certificate does not verify: {exc}") from None
    return block, commit, bid


def _hex(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise FinalityError(f"{what} is missing")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise FinalityError(f"{what} is not hex") from None


def verify_tx_proof(
    genesis: Genesis, tx_id: bytes, body: dict[str, Any], node_url: str = ""
) -> FinalityProof:
    """Check a `GET /txs/{id}` answer for a committed tx against `genesis`; FinalityError if
    the block does not decode or is for another chain or height, the certificate does not
    verify against the genesis validators, or the tx is not at the stated index."""
    if body.get("state") != "committed":
        raise FinalityError("the transaction is not committed")
    height, index, proof = body.get("height"), body.get("index"), body.get("proof")
    if type(height) is not int or type(index) is not int or not isinstance(proof, dict):
        raise FinalityError("a committed status needs height, index and proof")
    raw_block = _hex(proof.get("raw_block"), "raw_block")
    raw_commit = _hex(proof.get("raw_commit"), "raw_commit")
    block, commit, bid = verify_raw_block(genesis, raw_block, raw_commit, height)
    if not 0 <= index < len(block.txs):
        raise FinalityError(f"the block holds {len(block.txs)} txs, no index {index}")
    try:
        found = decode_tx(block.txs[index]).tx.tx_id
    except TxDecodeError:
        raise FinalityError("the transaction in the block does not decode") from None
    if found != tx_id:
        raise FinalityError(f"the tx at index {index} is {found.hex()}, not {tx_id.hex()}")
    code, message = body.get("code"), body.get("message", "")
    return FinalityProof(
        tx_id=tx_id,
        height=height,
        index=index,
        code=code if isinstance(code, str) else "",
        message=message if isinstance(message, str) else "",
        block_id=bid,
        header=block.header,
        commit=commit,
        node_url=node_url,
    )


def generate_signer(path: str | Path | None = None) -> Ed25519Signer:
    """A fresh Ed25519 key; written to `path` (network.keys' file format, mode 0600) if given."""
    from network.keys import KeyFileError, generate_key

    if path is None:
        return Ed25519Signer.generate()
    try:
        return generate_key(path)
    except (KeyFileError, OSError) as exc:
        raise ClientError(str(exc)) from None


def load_signer(path: str | Path) -> Signer:
    """The signing key in the key file at `path` (network.keys' format)."""
    from network.keys import KeyFileError, load_key

    try:
        return load_key(path)
    except (KeyFileError, OSError) as exc:
        raise ClientError(str(exc)) from None


def sign_body(
    signer: Signer,
    chain_id: str,
    body: Body,
    *,
    valid_until_ms: int,
    nonce: bytes | None = None,
) -> tuple[bytes, bytes]:
    """(tx_id, signed wire bytes) of `body` from `signer` with `nonce` (random if None)."""
    nonce = new_nonce() if nonce is None else nonce
    if len(nonce) != NONCE_SIZE:
        raise ClientError(f"a nonce is {NONCE_SIZE} bytes")
    wire = make_tx(signer, chain_id, body, nonce=nonce, valid_until_ms=valid_until_ms)
    return derive_tx_id(signer.public_key, nonce), wire


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

    def _order(self) -> list[str]:
        """Node URLs, the last one that worked first."""
        n = len(self.node_urls)
        return [self.node_urls[(self._preferred + i) % n] for i in range(n)]

    def _worked(self, url: str) -> None:
        self._preferred = self.node_urls.index(url)

    async def _request(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None = None,
        *,
        msgpack_body: bytes | None = None,
        parse: Callable[[httpx.Response], Any] = httpx.Response.json,
    ) -> tuple[str, int, Any]:
        """(url, status, parsed body) from the first node that answers without a 5xx/429 and
        with a body `parse` accepts (JSON by default; ValueError from it means garbage)."""
        failures: list[str] = []
        headers = None if msgpack_body is None else {"content-type": MSGPACK}
        for url in self._order():
            try:
                response = await self._http.request(
                    method, url + path, json=json, content=msgpack_body, headers=headers
                )
                body = parse(response)
            except (httpx.HTTPError, ValueError) as exc:
                failures.append(f"{url}: {type(exc).__name__}")
                continue
            if response.status_code in RETRY_STATUSES:
                failures.append(f"{url}: HTTP {response.status_code}")
                continue
            self._worked(url)
            return url, response.status_code, body
        raise NodeUnavailable("no validator answered: " + "; ".join(failures))

    async def _get(self, path: str) -> tuple[str, Any]:
        url, status, body = await self._request("GET", path)
        if status >= 400:
            raise _refused(status, body)
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
            raise _refused(status, body)
        return attrs.evolve(body, node_url=url)

    async def tx(self, tx_id: bytes) -> dict[str, Any]:
        return (await self._get(f"/txs/{tx_id.hex()}"))[1]

    async def latest_height(self) -> int:
        height = (await self.status()).get("height")
        if type(height) is not int or height < 0:
            raise ClientError("a validator reported no height")
        return height

    # ------------------------------------------------------------ writes

    async def submit(self, tx_bytes: bytes) -> SubmitResult:
        """Offer signed bytes to a validator (the next one if it is down or full)."""
        url, status, body = await self._request("POST", "/txs", {"tx": tx_bytes.hex()})
        if not _is_verdict(body):
            raise _refused(status, body)
        return _submit_result(body, url)

    async def submit_batch(self, txs: Sequence[bytes]) -> list[SubmitResult]:
        """Offer up to 500 signed transactions in one request (msgpack: the raw bytes, no hex);
        one verdict each, in order."""
        packed = msgpack.packb([bytes(tx) for tx in txs], use_bin_type=True)
        url, status, body = await self._request("POST", "/txs/batch", msgpack_body=packed)
        results = body.get("results") if isinstance(body, dict) else None
        if status != 200 or not isinstance(results, list) or len(results) != len(txs):
            raise _refused(status, body)
        return [_submit_result(verdict, url) for verdict in results]

    async def prepare(
        self, signer: Signer, body: Body, *, nonce: bytes | None = None
    ) -> tuple[bytes, bytes]:
        """(tx_id, signed bytes), valid for half the chain's window from the chain's time."""
        window_ms = self.genesis.limits.max_validity_window_ms
        until = await self.chain_time_ms() + window_ms // 2
        return sign_body(signer, self.genesis.chain_id, body, valid_until_ms=until, nonce=nonce)

    async def chain_time_ms(self) -> int:
        """The latest block's time as a validator reports it (the genesis time before any)."""
        height = await self.latest_height()
        if height == 0:
            return self.genesis.genesis_time_ms
        header = (await self.block(height)).get("header")
        time_ms = header.get("time_ms") if isinstance(header, dict) else None
        if type(time_ms) is not int:
            raise ClientError("a validator's block has no time")
        return time_ms

    async def send(
        self, signer: Signer, body: Body, *, nonce: bytes | None = None
    ) -> tuple[bytes, SubmitResult]:
        """Sign `body` and submit it; (tx_id, verdict)."""
        tx_id, wire = await self.prepare(signer, body, nonce=nonce)
        return tx_id, await self.submit(wire)

    # ------------------------------------------------------------ finality

    async def wait_final(
        self, tx_id: bytes, *, timeout_s: float = 30.0, poll_s: float = 0.05
    ) -> FinalityProof:
        """Poll validators until one serves a proof this client verifies; FinalityTimeout if
        none does in `timeout_s` (FinalityError if the only proofs seen were bad)."""
        with trio.move_on_after(timeout_s):
            while True:
                proof = await self._try_prove(tx_id)
                if proof is not None:
                    return proof
                await trio.sleep(poll_s)
        if self.suspects:
            raise FinalityError(
                f"no valid proof for {tx_id.hex()} in {timeout_s:g}s; refused: "
                + "; ".join(f"{u}: {why}" for u, why in self.suspects.items())
            )
        raise FinalityTimeout(f"{tx_id.hex()} was not final after {timeout_s:g}s")

    async def _try_prove(self, tx_id: bytes) -> FinalityProof | None:
        """Ask validators in turn; the first verified proof, or None if none is final yet."""
        for url in self._order():
            try:
                response = await self._http.get(f"{url}/txs/{tx_id.hex()}")
                body = response.json()
            except (httpx.HTTPError, ValueError):
                continue
            if response.status_code != 200 or not isinstance(body, dict):
                continue
            if body.get("state") != "committed":
                return None  # a working validator says "not yet": ask again later
            try:
                proof = verify_tx_proof(self.genesis, tx_id, body, url)
            except FinalityError as exc:
                self.suspects[url] = str(exc)
                continue
            self._worked(url)
            return proof
        return None

    async def submit_and_wait(
        self, tx_bytes: bytes, *, timeout_s: float = 30.0
    ) -> tuple[SubmitResult, FinalityProof | None]:
        """Submit, then (if a mempool took it or already knew it) wait for verified finality."""
        result = await self.submit(tx_bytes)
        if not result.ok or result.tx_id is None:
            return result, None
        return result, await self.wait_final(result.tx_id, timeout_s=timeout_s)


def _refused(status: int, body: object) -> RequestFailed:
    """The RequestFailed for a refusal, with the code and message of its error body if any."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    return RequestFailed(status, str(error.get("code", status)), str(error.get("message")))


def _submit_result(verdict: object, url: str) -> SubmitResult:
    """A `POST /txs` verdict (or one of a batch's) as a SubmitResult; MALFORMED if no dict."""
    if not isinstance(verdict, dict):
        return SubmitResult(tx_id=None, accepted=False, code="MALFORMED", message="", node_url=url)
    tx_id = verdict.get("tx_id")
    return SubmitResult(
        tx_id=bytes.fromhex(tx_id) if isinstance(tx_id, str) else None,
        accepted=bool(verdict.get("accepted")),
        code=str(verdict.get("code")),
        message=str(verdict.get("message", "")),
        node_url=url,
    )


def _is_verdict(body: object) -> bool:
    """Is this a `POST /txs` verdict (as opposed to an error or garbage)?"""
    return isinstance(body, dict) and "accepted" in body and "code" in body


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; for benchmark summaries."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
