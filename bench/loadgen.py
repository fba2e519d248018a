"""The load generator of `depositnet bench`: one step of offered load, in its own process.

It runs apart from the validators so its CPU is visible (and separable) in the measurement, and
it signs every transfer of the step BEFORE the step starts: during the measured window it only
sends bytes. Transfers go to random validators over HTTP, at most `concurrency` requests in
flight (a full window delays the next send, so the achieved offered rate is reported next to the
target). Requests leave from several loopback addresses, `clients` of them: the API rate-limits
per client address, and a bank's many payment clients are many addresses. One validator's blocks
are followed (`GET /status`, `GET /blocks/{h}/raw`) to time each transfer from its send to the
moment a block holding it was seen. If the API offers `POST /txs/batch` it is used (one request
per 20 ms tick); a 404/405 falls back to `POST /txs` for good.

The measurement traffic is kept cheap for the validators, as a high-volume client's would be:
batches go as msgpack (an array of raw transactions: no hex, no JSON validation), and followed
blocks come raw (the stored bytes, no JSON rendering). Neither side decodes a transaction for
the measurement: a committed transfer is recognised by its signed bytes, which are the keys of
`Tally.sent`.

    python -m bench.loadgen --spec SPEC.json [--out RESULT.json]

SPEC is a JSON object (see `StepSpec`). A line `measuring` on stdout marks the start of the
measured window; the result (see `summarise`) goes to --out or stdout.
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
from ledger.signing import make_tx
from ledger.tx import Transfer
from network.client import percentile
from network.keys import load_key

BATCH_TICK_S = 0.02
MAX_BATCH_TXS = 500  # the API's limit per POST /txs/batch
KNOWN = ("ALREADY_IN_MEMPOOL", "ALREADY_COMMITTED")
FOLLOW_POLL_S = 0.02
REQUESTS_PER_CLIENT_PER_NODE = 100.0  # half the API's default 200/s bucket per address
MAX_BLOCK_BYTES = 64 << 20  # the largest followed block we decode
MSGPACK = {"content-type": "application/msgpack"}


@attrs.frozen
class StepSpec:
    """One step: offer `rate` transfers/s for `seconds`, then wait up to `drain_s` for commits."""

    api_urls: tuple[str, ...]
    chain_id: str
    key_files: tuple[str, ...]  # participants' key files; transfers go between them
    rate: float
    seconds: float
    valid_for_heights: int
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
        tuples = ("api_urls", "key_files", "validator_pids")
        values: dict[str, Any] = {k: tuple(v) if k in tuples else v for k, v in data.items()}
        try:
            spec = cls(**values)
        except TypeError as exc:
            raise ValueError(f"bad step spec: {exc}") from None
        if not (spec.rate > 0 and spec.seconds > 0 and spec.concurrency > 0 and spec.api_urls):
            raise ValueError("a step needs a positive rate, seconds, concurrency and API URLs")
        return spec


def client_count(rate: float, validators: int) -> int:
    """Loopback client addresses needed so no address nears a validator's rate limit."""
    return max(1, math.ceil(rate / (validators * REQUESTS_PER_CLIENT_PER_NODE)))


def presign(spec: StepSpec, start_height: int) -> list[tuple[str, bytes]]:
    """All transfers of the step as (tx_id hex, signed bytes), chosen from `spec.seed`."""
    rng = random.Random(spec.seed)
    signers = [load_key(path) for path in spec.key_files]
    until = start_height + spec.valid_for_heights
    out = []
    for _ in range(round(spec.rate * spec.seconds)):
        sender, recipient = rng.sample(signers, 2)
        body = Transfer(
            sender.public_key, recipient.public_key, rng.choice(("USD", "EUR")), rng.randint(1, 999)
        )
        tx_id = rng.randbytes(16)
        out.append(
            (
                tx_id.hex(),
                make_tx(sender, spec.chain_id, body, tx_id=tx_id, valid_until_height=until),
            )
        )
    return out


@attrs.define
class Tally:
    """What happened to the step's transfers; times are time.monotonic(). Transfers are known
    by their signed bytes (what the network returns in blocks), never decoded."""

    sent: dict[bytes, float] = attrs.Factory(dict)  # signed tx -> send time, until committed
    ids: dict[bytes, str] = attrs.Factory(dict)  # signed tx -> tx_id hex, for reports only
    rejected: dict[str, int] = attrs.Factory(dict)
    latencies_s: list[float] = attrs.Factory(list)
    block_times: list[float] = attrs.Factory(list)  # when each block holding ours was seen
    committed: int = 0
    submitted: int = 0
    first_send: float = 0.0
    last_send: float = 0.0
    batch_used: bool | None = None
    follow_errors: dict[int, int] = attrs.Factory(dict)  # HTTP status -> count
    request_s: list[float] = attrs.Factory(list)  # round trip of each submit request
    window_full: int = 0  # sends that had to wait for a free request slot

    def reject(self, tx: bytes, code: str) -> None:
        self.sent.pop(tx, None)
        self.rejected[code] = self.rejected.get(code, 0) + 1


def summarise(spec: StepSpec, tally: Tally, extra: dict[str, Any]) -> dict[str, Any]:
    """The step's figures. Committed throughput is the step's committed transfers over the time
    from its first send to its last commit: a network that stalls and then commits everything
    in one burst is not credited with the burst's rate. It under-reads by one pipeline delay
    (the latency of an unloaded network, well under a second) over the step's length."""
    times = tally.block_times
    sending = max(tally.last_send - tally.first_send, 1e-9)
    span = max(times[-1] - tally.first_send, sending) if times else spec.seconds
    lat = tally.latencies_s
    return {
        "offered_tps": spec.rate,
        "achieved_offered_tps": tally.submitted / sending if tally.submitted > 1 else 0.0,
        "seconds": spec.seconds,
        "submitted": tally.submitted,
        "rejected": dict(sorted(tally.rejected.items())),
        "committed": tally.committed,
        "uncommitted": len(tally.sent),
        "uncommitted_sample": sorted(tally.ids.get(tx, tx.hex()) for tx in tally.sent)[:5],
        "committed_tps": tally.committed / span,
        "commit_span_s": span,
        "latency_p50_s": percentile(lat, 0.5) if lat else None,
        "latency_p99_s": percentile(lat, 0.99) if lat else None,
        "latency_max_s": max(lat) if lat else None,
        "submit_rtt_p50_s": percentile(tally.request_s, 0.5) if tally.request_s else None,
        "submit_rtt_p99_s": percentile(tally.request_s, 0.99) if tally.request_s else None,
        "window_full": tally.window_full,
        "blocks_with_ours": len(times),
        "batch_submit": bool(tally.batch_used),
        "follow_errors": {str(k): v for k, v in tally.follow_errors.items()},
        **extra,
    }


async def _status_height(http: httpx.AsyncClient, url: str) -> int:
    response = await http.get(url + "/status")
    height = response.json().get("height")
    if type(height) is not int:
        raise RuntimeError(f"{url}/status gave no height")
    return height


async def follow(http: httpx.AsyncClient, url: str, height: int, tally: Tally) -> None:
    """Time every transfer of ours in the blocks after `height` (runs until cancelled). Blocks
    come raw (`GET /blocks/{h}/raw`); their transactions are matched by their bytes."""
    while True:
        latest = await _status_height(http, url)
        while height < latest:
            response = await http.get(f"{url}/blocks/{height + 1}/raw")
            if response.status_code != 200:
                tally.follow_errors[response.status_code] = (
                    tally.follow_errors.get(response.status_code, 0) + 1
                )
                break  # not served yet (or rate-limited): ask again after the poll interval
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
        await trio.sleep(FOLLOW_POLL_S)


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
        """Send `txs` at the spec's rate (a full window delays sends; that shows as a lower
        achieved offered rate)."""
        start = time.monotonic()
        self.tally.first_send = start
        async with trio.open_nursery() as nursery:
            i = 0
            while i < len(txs):
                due = start + i / self.spec.rate
                await trio.sleep(max(0.0, due - time.monotonic()))
                now = time.monotonic()
                if self.batch:
                    due_now = int((now - start + BATCH_TICK_S) * self.spec.rate)
                    last = min(len(txs), i + MAX_BATCH_TXS, max(i + 1, due_now))
                else:
                    last = i + 1
                chunk = txs[i:last]
                if self.window.value == 0:
                    self.tally.window_full += 1
                await self.window.acquire()
                sent_at = time.monotonic()
                for tx in chunk:
                    self.tally.sent[tx] = sent_at
                self.tally.submitted += len(chunk)
                self.tally.last_send = sent_at
                nursery.start_soon(self._send, chunk)
                i = last


def _process_figures(pids: Sequence[int]) -> list[dict[str, float]]:
    return [{"cpu_s": cpu_seconds(pid), "rss_bytes": float(rss_bytes(pid))} for pid in pids]


async def run_step(spec: StepSpec) -> dict[str, Any]:
    """Pre-sign, offer, drain; the step's summary (see `summarise`)."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        follow_url = spec.api_urls[spec.follow_index]
        height = await _status_height(http, follow_url)
        signing_start = time.perf_counter()
        txs = presign(spec, height)
        signing_s = time.perf_counter() - signing_start
        wires = [tx for _, tx in txs]
        tally = Tally(ids={tx: tx_id for tx_id, tx in txs})
        submitter = Submitter(spec, tally, random.Random(spec.seed + 1))
        own_cpu = time.process_time()
        load_start = (time.monotonic(), time.time(), _process_figures(spec.validator_pids))
        print("measuring", flush=True)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(follow, http, follow_url, height, tally)
                await submitter.offer(wires)
                with trio.move_on_after(spec.drain_s):
                    while tally.sent:
                        await trio.sleep(0.05)
                nursery.cancel_scope.cancel()
        finally:
            await submitter.aclose()
        ended = time.monotonic()
        own_cpu = time.process_time() - own_cpu
        end_figures = _process_figures(spec.validator_pids)
        end_height = await _status_height(http, follow_url)
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
            "heights": [height, end_height],
            "validators": validators,
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="the step as a JSON file")
    parser.add_argument("--out", help="write the result here (default: stdout)")
    args = parser.parse_args(argv)
    with open(args.spec, encoding="utf-8") as f:
        spec = StepSpec.from_json(json.load(f))
    result = trio.run(run_step, spec)
    text = json.dumps(result, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
