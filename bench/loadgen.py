"""The load generator of `depositnet bench`: one step of offered load, in its own process.

It runs apart from the validators so its CPU is visible (and separable) in the measurement, and
it signs every transfer of the step BEFORE the step starts: during the measured window it only
sends bytes. Transfers go to random validators over HTTP, at most `concurrency` requests in
flight (a full window delays the next send, so the achieved offered rate is reported next to the
target). Requests leave from several loopback addresses, `clients` of them: the API rate-limits
per client address, and a bank's many payment clients are many addresses. One validator's blocks
are followed (`GET /status`, `GET /blocks/{h}/raw`) to time each transfer from its send to the
moment a block holding it was seen. If the API offers `POST /txs/batch` it is used (one request
per 50 ms tick); a 404/405 falls back to `POST /txs` for good.

Every transfer must be valid when it arrives and when it commits: the chain accepts it while
block time <= valid_until_ms <= block time + window (the genesis `limits.max_validity_window_ms`).
Block time is chain time, which follows the validators' clocks whatever the chain's height
rate, so every transfer of a step gets the same valid_until_ms: the chain's time when signing
starts (its latest block's time) + the window. Chain time only rises, so no transfer is ever
ahead of the window, and all stay valid for the window, which the harness sets long enough for
the signing, the step and its drain (`bench.harness.validity_window_ms`). After signing, the
load generator checks that what is left of the window covers the step and its drain, and
stops with an error before sending anything if not. The validators' verdicts EXPIRED and
TOO_FAR_AHEAD, if any, are in `rejected` with every other code.

The measurement traffic is kept cheap for the validators, as a high-volume client's would be:
batches go as msgpack (an array of raw transactions: no hex, no JSON validation), and followed
blocks come raw (the stored bytes, no JSON rendering). Neither side decodes a transaction for
the measurement: a committed transfer is recognised by its signed bytes, which are the keys of
`Tally.sent`.

    python -m bench.loadgen --spec SPEC.json [--out RESULT.json]

SPEC is a JSON object (see `StepSpec`). A line `measuring` on stdout marks the start of the
measured window (after signing); the result (see `summarise`) goes to --out or stdout. A spec or
window that cannot work is a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs
import httpx
import msgpack
import trio

from bench.procinfo import cpu_seconds, rss_bytes
from consensus.replica.block import decode_block
from ledger.genesis import MAX_VALIDITY_WINDOW_MS, MIN_VALIDITY_WINDOW_MS
from ledger.signing import make_tx
from ledger.tx import NONCE_SIZE, Transfer
from ledger.txcodec import decode_tx
from network.client import percentile
from network.keys import load_key

BATCH_TICK_S = 0.05  # one batch per validator request every 50 ms: HTTP costs per request
MAX_BATCH_TXS = 500  # the API's limit per POST /txs/batch
KNOWN = ("ALREADY_IN_MEMPOOL", "ALREADY_COMMITTED")
FOLLOW_POLL_S = 0.025  # after a 404 for the next block
REQUESTS_PER_CLIENT_PER_NODE = 100.0  # half the API's default 200/s bucket per address
MAX_BLOCK_BYTES = 64 << 20  # the largest followed block we decode
MSGPACK = {"content-type": "application/msgpack"}
DRAIN_POLL_S = 0.05


class StepError(Exception):
    """The step cannot run as specified (a window too short, a chain without time)."""


@attrs.frozen
class StepSpec:
    """One step: offer `rate` transfers/s for `seconds`, then wait up to `drain_s` for commits."""

    api_urls: tuple[str, ...]
    chain_id: str
    key_files: tuple[str, ...]  # participants' key files; transfers go between them
    rate: float
    seconds: float
    validity_window_ms: int  # the chain's (genesis limits.max_validity_window_ms) or less
    currencies: tuple[str, ...] = ("USD", "EUR")  # every participant holds each
    drain_s: float = 15.0
    concurrency: int = 64
    seed: int = 1
    batch: bool = True  # try POST /txs/batch first
    validator_pids: tuple[int, ...] = ()
    follow_index: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepSpec:
        fields = attrs.fields_dict(cls)
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"unknown step spec fields: {unknown}")
        tuples = ("api_urls", "key_files", "validator_pids", "currencies")
        values: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
        try:
            spec = cls(**values)
        except TypeError as exc:
            raise ValueError(f"bad step spec: {exc}") from None
        numbers = (spec.rate, spec.seconds, spec.drain_s)
        if not all(type(n) in (int, float) and math.isfinite(n) for n in numbers):
            raise ValueError("rate, seconds and drain_s must be finite numbers")
        if type(spec.concurrency) is not int or not spec.api_urls or not spec.currencies:
            raise ValueError("a step needs an int concurrency, API URLs and a currency")
        if not (spec.rate > 0 and spec.seconds > 0 and spec.concurrency > 0 and spec.drain_s >= 0):
            raise ValueError("a step needs a positive rate, seconds and concurrency, drain_s >= 0")
        window = spec.validity_window_ms
        if type(window) is not int or not _chain_allows(window):
            raise ValueError(
                f"validity_window_ms: expected {MIN_VALIDITY_WINDOW_MS}..{MAX_VALIDITY_WINDOW_MS}"
            )
        if spec.seconds + spec.drain_s >= window / 1000:
            raise ValueError(
                f"a step of {spec.seconds:g} s and its drain of {spec.drain_s:g} s do not fit in "
                f"a validity window of {window / 1000:g} s"
            )
        return spec


def _chain_allows(window_ms: int) -> bool:
    """Whether a genesis may set this validity window."""
    return MIN_VALIDITY_WINDOW_MS <= window_ms <= MAX_VALIDITY_WINDOW_MS


def client_count(rate: float, validators: int) -> int:
    """Loopback client addresses needed so no address nears a validator's rate limit."""
    return max(1, math.ceil(rate / (validators * REQUESTS_PER_CLIENT_PER_NODE)))


def transfer_count(spec: StepSpec) -> int:
    """Transfers a step sends: its rate for its seconds."""
    return max(1, round(spec.rate * spec.seconds))


def presign(spec: StepSpec, valid_until_ms: int, count: int | None = None) -> list[bytes]:
    """The step's transfers in send order (`transfer_count(spec)` of them unless `count` says),
    signed bytes all valid until `valid_until_ms`, chosen from `spec.seed`: the same seed gives
    the same nonces, so the same tx_ids (each derived from its signer and nonce)."""
    rng = random.Random(spec.seed)
    signers = [load_key(path) for path in spec.key_files]
    out = []
    for _ in range(transfer_count(spec) if count is None else count):
        sender, recipient = rng.sample(signers, 2)
        body = Transfer(
            sender.public_key,
            recipient.public_key,
            rng.choice(spec.currencies),
            rng.randint(1, 999),
        )
        nonce = rng.randbytes(NONCE_SIZE)
        out.append(make_tx(sender, spec.chain_id, body, nonce=nonce, valid_until_ms=valid_until_ms))
    return out


def check_time_left(spec: StepSpec, elapsed_s: float) -> float:
    """Seconds of validity the step's transfers have left, `elapsed_s` after the chain's time
    was read for their valid_until_ms; StepError if the step and its drain do not fit in them.

    Counted from the read, not by comparing clocks: chain time advances with the validators'
    clocks, so the window runs out `window` after the chain's time at the read. An idle chain's
    latest block may be up to its empty-block interval old, and the next block's time jumps
    to the clock: the harness's window allows for that lag (`bench.harness.CHAIN_TIME_LAG_S`)."""
    left, needed = spec.validity_window_ms / 1000 - elapsed_s, spec.seconds + spec.drain_s
    if left < needed:
        raise StepError(
            f"the transfers are valid for {left:.0f} s more, but the step and its drain take "
            f"{needed:.0f} s: signing took {elapsed_s:.0f} s of the chain's validity window "
            f"of {spec.validity_window_ms / 1000:.0f} s (raise limits.max_validity_window_ms)"
        )
    return left


@attrs.define
class Tally:
    """What happened to the step's transfers; times are time.monotonic(). Transfers are known
    by their signed bytes (what the network returns in blocks), never decoded."""

    sent: dict[bytes, float] = attrs.Factory(dict)  # signed tx -> send time, until committed
    ids: dict[bytes, str] = attrs.Factory(dict)  # signed tx -> tx_id hex, else decoded
    rejected: dict[str, int] = attrs.Factory(dict)
    latencies_s: list[float] = attrs.Factory(list)
    block_times: list[float] = attrs.Factory(list)  # when each block holding ours was seen
    committed: int = 0
    submitted: int = 0
    first_send: float = 0.0
    last_send: float = 0.0
    max_send_gap_s: float = 0.0  # the longest time between two sends: the load paused
    batch_used: bool | None = None
    follow_errors: dict[int, int] = attrs.Factory(dict)  # HTTP status -> count
    request_s: list[float] = attrs.Factory(list)  # round trip of each submit request
    window_full: int = 0  # sends that had to wait for a free request slot
    height: int = 0  # the followed validator's last block seen by `follow`
    first_height: int = 0  # ... at the first send, and at the last
    last_height: int = 0

    def reject(self, tx: bytes, code: str) -> None:
        self.sent.pop(tx, None)
        self.rejected[code] = self.rejected.get(code, 0) + 1

    def record_send(self, txs: Sequence[bytes], at: float) -> None:
        """`txs` leave now (`at`)."""
        if self.submitted:
            self.max_send_gap_s = max(self.max_send_gap_s, at - self.last_send)
        else:
            self.first_send, self.first_height = at, self.height
        for tx in txs:
            self.sent[tx] = at
        self.submitted += len(txs)
        self.last_send, self.last_height = at, self.height


def summarise(spec: StepSpec, tally: Tally, extra: dict[str, Any]) -> dict[str, Any]:
    """The step's figures. Committed throughput is the step's committed transfers over the time
    from its first send to its last commit: a network that stalls and then commits everything
    in one burst is not credited with the burst's rate. It under-reads by one pipeline delay
    (the latency of an unloaded network, well under a second) over the step's length."""
    times = tally.block_times
    sending = max(tally.last_send - tally.first_send, 1e-9)
    span = max(times[-1] - tally.first_send, sending) if times else spec.seconds
    lat = tally.latencies_s
    climbed = tally.last_height - tally.first_height
    return {
        "offered_tps": spec.rate,
        "achieved_offered_tps": tally.submitted / sending if tally.submitted > 1 else 0.0,
        "seconds": spec.seconds,
        "submitted": tally.submitted,
        "rejected": dict(sorted(tally.rejected.items())),
        "committed": tally.committed,
        "uncommitted": len(tally.sent),
        "uncommitted_sample": sorted(tally.ids.get(tx) or _tx_id_hex(tx) for tx in tally.sent)[:5],
        "committed_tps": tally.committed / span,
        "commit_span_s": span,
        "latency_p50_s": percentile(lat, 0.5) if lat else None,
        "latency_p99_s": percentile(lat, 0.99) if lat else None,
        "latency_max_s": max(lat) if lat else None,
        "submit_rtt_p50_s": percentile(tally.request_s, 0.5) if tally.request_s else None,
        "submit_rtt_p99_s": percentile(tally.request_s, 0.99) if tally.request_s else None,
        "window_full": tally.window_full,
        "max_send_gap_s": tally.max_send_gap_s,
        "send_heights": [tally.first_height, tally.last_height],
        "heights_per_s": climbed / sending if tally.submitted > 1 else None,
        "blocks_with_ours": len(times),
        "batch_submit": bool(tally.batch_used),
        "follow_errors": {str(k): v for k, v in tally.follow_errors.items()},
        **extra,
    }


def _tx_id_hex(tx: bytes) -> str:
    """A transfer's tx_id for the report (after the measurement: nothing is decoded during it)."""
    try:
        return decode_tx(tx).tx.tx_id.hex()
    except ValueError:
        return tx.hex()


async def _status_height(http: httpx.AsyncClient, url: str) -> int:
    response = await http.get(url + "/status")
    height = response.json().get("height")
    if type(height) is not int:
        raise StepError(f"{url}/status gave no height")
    return height


async def chain_time_ms(http: httpx.AsyncClient, url: str) -> tuple[int, int]:
    """(height, time_ms) of the validator's latest block: the chain's time now. A chain with
    no block yet has no time the load generator could trust: StepError."""
    response = await http.get(url + "/blocks/latest")
    body = response.json() if response.status_code == 200 else None
    header = body.get("header") if isinstance(body, dict) else None
    if not isinstance(header, dict):
        raise StepError(f"{url}/blocks/latest: no block yet (HTTP {response.status_code})")
    height, time_ms = header.get("height"), header.get("time_ms")
    if type(height) is not int or type(time_ms) is not int:
        raise StepError(f"{url}/blocks/latest: a header without height and time_ms")
    return height, time_ms


async def follow(http: httpx.AsyncClient, url: str, height: int, tally: Tally) -> None:
    """Time every transfer of ours in the blocks after `height` (runs until cancelled). Blocks
    come raw (`GET /blocks/{h}/raw`); their transactions are matched by their bytes."""
    tally.height = height
    while True:
        # Ask for the next block directly (no /status round trip): a 404 means "not yet".
        response = await http.get(f"{url}/blocks/{height + 1}/raw")
        if response.status_code != 200:
            if response.status_code != 404:
                tally.follow_errors[response.status_code] = (
                    tally.follow_errors.get(response.status_code, 0) + 1
                )
            await trio.sleep(FOLLOW_POLL_S)  # not committed yet (or rate-limited)
            continue
        now = time.monotonic()
        txs = block_txs(response.content)
        ours = 0
        for tx in txs:
            sent = tally.sent.pop(tx, None)
            if sent is not None:
                ours += 1
                tally.latencies_s.append(now - sent)
        if ours:
            tally.committed += ours
            tally.block_times.append(now)
        height += 1
        tally.height = height


def block_txs(raw: bytes) -> tuple[bytes, ...]:
    """The signed transactions of a `GET /blocks/{h}/raw` body (the block is decoded and its
    transactions root checked; the transactions themselves stay bytes)."""
    stored = msgpack.unpackb(raw, raw=False)
    if not isinstance(stored, dict) or not isinstance(stored.get("block"), bytes):
        raise ValueError("a raw block answer without block bytes")
    return decode_block(stored["block"], MAX_BLOCK_BYTES).txs


def _verdict_code(status: int, body: Any) -> str | None:
    """None if accepted (or already known), else the rejection code."""
    if isinstance(body, dict) and "accepted" in body:
        if body.get("accepted") or status == 200 or body.get("code") in KNOWN:
            return None
        return str(body.get("code"))
    return f"HTTP_{status}"


class Submitter:
    """Sends transfers to random validators through a pool of loopback client addresses."""

    def __init__(self, spec: StepSpec, tally: Tally, rng: random.Random) -> None:
        self.spec, self.tally, self.rng = spec, tally, rng
        self.window = trio.Semaphore(spec.concurrency)
        addresses = [f"127.0.0.{2 + i}" for i in range(client_count(spec.rate, len(spec.api_urls)))]
        self.clients = [
            httpx.AsyncClient(
                timeout=30.0,
                transport=httpx.AsyncHTTPTransport(local_address=address),
                limits=httpx.Limits(max_connections=spec.concurrency),
            )
            for address in addresses
        ]
        self.batch = spec.batch

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    def _pick(self) -> tuple[httpx.AsyncClient, str]:
        return self.rng.choice(self.clients), self.rng.choice(self.spec.api_urls)

    async def one(self, tx: bytes) -> None:
        client, url = self._pick()
        try:
            response = await client.post(url + "/txs", json={"tx": tx.hex()})
            code = _verdict_code(response.status_code, response.json())
        except (httpx.HTTPError, ValueError) as exc:
            code = f"UNREACHABLE_{type(exc).__name__}"
        if code is not None:
            self.tally.reject(tx, code)

    async def many(self, batch: Sequence[bytes]) -> None:
        """POST /txs/batch as msgpack; falls back to single submissions if the endpoint is
        missing (or the batch is refused whole)."""
        client, url = self._pick()
        try:
            response = await client.post(
                url + "/txs/batch", content=msgpack.packb(list(batch)), headers=MSGPACK
            )
            body = response.json()
        except (httpx.HTTPError, ValueError):
            body, response = None, None
        results = body.get("results") if isinstance(body, dict) else None
        if response is None or response.status_code in (404, 405) or not isinstance(results, list):
            self.batch = False
            self.tally.batch_used = False
            for tx in batch:
                await self.one(tx)
            return
        self.tally.batch_used = True
        for tx, verdict in zip(batch, results, strict=False):
            code = _verdict_code(202 if verdict.get("accepted") else 422, verdict)
            if code is not None:
                self.tally.reject(tx, code)

    async def _send(self, txs: Sequence[bytes]) -> None:
        started = time.monotonic()
        try:
            if len(txs) == 1 and not self.batch:
                await self.one(txs[0])
            else:
                await self.many(txs)
        finally:
            self.tally.request_s.append(time.monotonic() - started)
            self.window.release()

    async def offer(self, txs: Sequence[bytes]) -> None:
        """Send `txs` in order at the spec's rate. A full request window delays the next send:
        that shows as a lower achieved offered rate and a longer `max_send_gap_s`."""
        tally = self.tally
        start = time.monotonic()
        count, sent = len(txs), 0
        async with trio.open_nursery() as nursery:
            while sent < count:
                due = start + sent / self.spec.rate
                await trio.sleep(max(0.0, due - time.monotonic()))
                if self.batch:
                    due_now = int((time.monotonic() - start + BATCH_TICK_S) * self.spec.rate)
                    want = min(count - sent, MAX_BATCH_TXS, max(1, due_now - sent))
                else:
                    want = 1
                chunk = txs[sent : sent + want]
                if self.window.value == 0:
                    tally.window_full += 1
                await self.window.acquire()
                tally.record_send(chunk, time.monotonic())
                nursery.start_soon(self._send, chunk)
                sent += len(chunk)


def _process_figures(pids: Sequence[int]) -> list[dict[str, float]]:
    return [{"cpu_s": cpu_seconds(pid), "rss_bytes": float(rss_bytes(pid))} for pid in pids]


async def run_step(spec: StepSpec) -> dict[str, Any]:
    """Read the chain's time, pre-sign, check the window still covers the step, offer, drain;
    the step's summary (see `summarise`)."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        follow_url = spec.api_urls[spec.follow_index]
        _, chain_ms = await chain_time_ms(http, follow_url)
        read_at = time.monotonic()
        valid_until_ms = chain_ms + spec.validity_window_ms
        txs = presign(spec, valid_until_ms)
        signing_s = time.monotonic() - read_at
        check_time_left(spec, signing_s)
        tally = Tally()  # no tx_id map: a soak's transfers are millions
        height = await _status_height(http, follow_url)
        submitter = Submitter(spec, tally, random.Random(spec.seed + 1))
        own_cpu = time.process_time()
        load_start = (time.monotonic(), time.time(), _process_figures(spec.validator_pids))
        print("measuring", flush=True)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(follow, http, follow_url, height, tally)
                await submitter.offer(txs)
                with trio.move_on_after(spec.drain_s):
                    while tally.sent:
                        await trio.sleep(DRAIN_POLL_S)
                nursery.cancel_scope.cancel()
        finally:
            await submitter.aclose()
        ended = time.monotonic()
        own_cpu = time.process_time() - own_cpu
        end_figures = _process_figures(spec.validator_pids)
        end_height = await _status_height(http, follow_url)
        left_s = spec.validity_window_ms / 1000 - (time.monotonic() - read_at)
    validators = [
        {
            "cpu_s": end["cpu_s"] - begin["cpu_s"],
            "rss_start_bytes": begin["rss_bytes"],
            "rss_end_bytes": end["rss_bytes"],
        }
        for begin, end in zip(load_start[2], end_figures, strict=True)
    ]
    return summarise(
        spec,
        tally,
        {
            "clients": len(submitter.clients),
            "concurrency": spec.concurrency,
            "presign_s": signing_s,
            "presign_tps": len(txs) / signing_s if signing_s > 0 else 0.0,
            "wall_s": ended - load_start[0],
            "loadgen_cpu_s": own_cpu,
            "started_unix": load_start[1],
            "heights": [height, end_height],  # the measured window's (the CPU figures')
            "validity": {
                "window_ms": spec.validity_window_ms,
                "chain_time_at_signing_ms": chain_ms,
                "valid_until_ms": valid_until_ms,
                "left_at_end_s": left_s,
            },
            "validators": validators,
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="the step as a JSON file")
    parser.add_argument("--out", help="write the result here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        with open(args.spec, encoding="utf-8") as f:
            spec = StepSpec.from_json(json.load(f))
        result = trio.run(run_step, spec)
    except (OSError, ValueError, StepError, httpx.HTTPError) as exc:
        print(f"loadgen: error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
