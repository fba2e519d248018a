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

Every transfer must be valid when it arrives and when it commits: the chain accepts it only
while height <= valid_until_height <= height + window (the genesis validity window, a few
hundred heights), and the chain makes empty blocks when idle, so the height when sending
starts and how fast it then rises are not known at signing time. So (see `Validity`):

- the load generator measures the idle chain's height rate and its own signing rate, picks
  the start height the chain will reach once everything is signed, signs, and then waits for
  the chain to get there before the measured window opens;
- the i-th transfer in send order gets valid_until_height = start + (window - lead) +
  low x i / rate: it rises at `low`, the slowest height rate expected under this load (the
  harness measures the rate in an earlier step at that load; for a first step it is a fraction
  of the idle rate), so a chain that is slower than expected does not leave the transfers
  ahead of the window;
- when it sends, the sender looks at the chain's current height (`track_height`) and skips
  transfers whose valid_until_height is less than `margin` (a quarter of the window) above it:
  the chain has outrun them and they could expire before they commit. They are never sent and
  are counted (`skipped_expiring`). Enough transfers are signed for the chain to run at
  `high`, the fastest expected rate, for the whole run. A transfer not yet valid (the chain
  fell more than the start's slack behind `low`) makes the sender wait: counted as
  `waited_for_chain_s`, a gap in the load. If the pool runs out, sending stops early
  (`pool_exhausted`).

So no transfer is sent outside its validity window as long as the chain's height rate stays
between `low` and `high` (plus the window's slack), for a run of any length; the validators'
verdicts EXPIRED and TOO_FAR_AHEAD, if any, are in `rejected` with every other code.

The measurement traffic is kept cheap for the validators, as a high-volume client's would be:
batches go as msgpack (an array of raw transactions: no hex, no JSON validation), and followed
blocks come raw (the stored bytes, no JSON rendering). Neither side decodes a transaction for
the measurement: a committed transfer is recognised by its signed bytes, which are the keys of
`Tally.sent`.

    python -m bench.loadgen --spec SPEC.json [--out RESULT.json]

SPEC is a JSON object (see `StepSpec`). A line `measuring` on stdout marks the start of the
measured window (after signing and the wait for the start height); the result (see
`summarise`) goes to --out or stdout.
"""

from __future__ import annotations

import argparse
import contextlib
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
LEAD_HEIGHTS = 5  # kept below the window's top: a validator may trail the followed one
HEIGHT_POLL_S = 0.05
WAIT_POLL_S = 0.01
PROBE_S = 1.0  # the idle chain's height rate is measured over at least this long ...
PROBE_HEIGHTS = 5  # ... and this many heights (at most PROBE_MAX_S)
PROBE_MAX_S = 10.0
SIGN_PROBE_TXS = 200
START_SLACK = 1.25  # x the heights the idle chain is expected to make while we sign
IDLE_RANGE = (0.3, 1.2)  # expected heights/s under load, x the idle rate, if the spec has none


@attrs.frozen
class StepSpec:
    """One step: offer `rate` transfers/s for `seconds`, then wait up to `drain_s` for commits."""

    api_urls: tuple[str, ...]
    chain_id: str
    key_files: tuple[str, ...]  # participants' key files; transfers go between them
    rate: float
    seconds: float
    valid_for_heights: int  # the chain's validity window (genesis limits.max_validity_window)
    heights_per_s_low: float = 0.0  # slowest and fastest heights/s expected under this load;
    heights_per_s_high: float = 0.0  # 0: IDLE_RANGE x the idle chain's rate
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
        if spec.valid_for_heights < 4 * (LEAD_HEIGHTS + 2):
            raise ValueError(f"a validity window of {spec.valid_for_heights} heights is too short")
        low, high = spec.heights_per_s_low, spec.heights_per_s_high
        if (low, high) != (0.0, 0.0) and not 0 < low <= high:
            raise ValueError("heights_per_s_low and _high: 0 < low <= high, or both 0")
        return spec


@attrs.frozen
class Validity:
    """Which valid_until_height the i-th transfer in send order gets, and which transfers may
    be sent at a given chain height (see the module's docstring).

    A transfer is sent at height H only if H + margin <= valid_until_height <= H + top: the
    chain accepts it (top = window - lead) and it has `margin` heights left to commit. That
    is `usable` heights of the chain for each transfer. The first transfer is sendable from
    `start_height - behind` on, so the chain may fall `behind` heights behind the `low` rate
    before the sender has to wait."""

    start_height: int
    window: int
    rate: float  # transfers/s
    seconds: float
    low: float  # heights/s
    high: float

    @property
    def top(self) -> int:
        return self.window - LEAD_HEIGHTS

    @property
    def margin(self) -> int:
        return max(2, self.window // 4)

    @property
    def usable(self) -> int:
        return self.top - self.margin

    @property
    def behind(self) -> int:
        return self.usable // 4

    def until(self, index: int) -> int:
        rise = math.floor(self.low * index / self.rate)
        return self.start_height + self.top - self.behind + rise

    def count(self) -> int:
        """Transfers to sign so the pool lasts `seconds` with the chain at `high` heights/s:
        the sender then skips to the transfer whose valid_until_height is `margin` above
        start + high x seconds."""
        ahead = self.usable - self.behind  # heights the chain may gain on `low` before skips
        needed_s = (self.high * self.seconds - ahead) / self.low
        return math.ceil(self.rate * (max(self.seconds, needed_s) + BATCH_TICK_S)) + 1


class Pool:
    """The pre-signed transfers in send order (valid_until_height never decreases along it)."""

    def __init__(self, txs: Sequence[bytes], untils: Sequence[int], margin: int, top: int):
        if len(txs) != len(untils):
            raise ValueError("one valid_until_height per transfer")
        self.txs, self.untils, self.margin, self.top = txs, untils, margin, top
        self.next = 0
        self.skipped = 0  # passed over: the chain outran them

    @classmethod
    def unbounded(cls, txs: Sequence[bytes]) -> Pool:
        """Transfers that may be sent at any height (tests)."""
        return cls(txs, [2**62] * len(txs), 0, 2**62)

    @property
    def exhausted(self) -> bool:
        return self.next >= len(self.txs)

    def take(self, height: int, count: int) -> Sequence[bytes]:
        """Up to `count` transfers sendable at `height`, in order, after passing over those
        with less than `margin` heights left. Empty when the pool is exhausted or the next
        transfer is not valid yet (valid_until_height above height + top)."""
        untils, end = self.untils, len(self.txs)
        lowest = height + self.margin
        while self.next < end and untils[self.next] < lowest:
            self.next += 1
            self.skipped += 1
        first = last = self.next
        stop, highest = min(end, first + count), height + self.top
        while last < stop and untils[last] <= highest:
            last += 1
        self.next = last
        return self.txs[first:last]


def client_count(rate: float, validators: int) -> int:
    """Loopback client addresses needed so no address nears a validator's rate limit."""
    return max(1, math.ceil(rate / (validators * REQUESTS_PER_CLIENT_PER_NODE)))


def presign(
    spec: StepSpec, validity: Validity, count: int | None = None
) -> list[tuple[str, bytes, int]]:
    """The run's transfers in send order as (tx_id hex, signed bytes, valid_until_height),
    `validity.count()` of them unless `count` says, chosen from `spec.seed`."""
    rng = random.Random(spec.seed)
    signers = [load_key(path) for path in spec.key_files]
    out = []
    for index in range(validity.count() if count is None else count):
        sender, recipient = rng.sample(signers, 2)
        body = Transfer(
            sender.public_key, recipient.public_key, rng.choice(("USD", "EUR")), rng.randint(1, 999)
        )
        tx_id = rng.randbytes(16)
        until = validity.until(index)
        signed = make_tx(sender, spec.chain_id, body, tx_id=tx_id, valid_until_height=until)
        out.append((tx_id.hex(), signed, until))
    return out


def sign_rate(spec: StepSpec, validity: Validity) -> float:
    """Transfers this process signs per second just now (a short sample, thrown away)."""
    started = time.perf_counter()
    presign(attrs.evolve(spec, seed=spec.seed + 7919), validity, SIGN_PROBE_TXS)
    return SIGN_PROBE_TXS / max(time.perf_counter() - started, 1e-6)


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
    batch_used: bool | None = None
    follow_errors: dict[int, int] = attrs.Factory(dict)  # HTTP status -> count
    request_s: list[float] = attrs.Factory(list)  # round trip of each submit request
    window_full: int = 0  # sends that had to wait for a free request slot
    height: int = 0  # the followed validator's height, kept current by `track_height`
    first_height: int = 0  # ... at the first send, and at the last
    last_height: int = 0
    waited_for_chain_s: float = 0.0  # sending paused: the next transfer was not valid yet
    pool_exhausted: bool = False

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
        "send_heights": [tally.first_height, tally.last_height],
        "heights_per_s": climbed / sending if tally.submitted > 1 else None,
        "waited_for_chain_s": tally.waited_for_chain_s,
        "pool_exhausted": tally.pool_exhausted,
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
        raise RuntimeError(f"{url}/status gave no height")
    return height


async def track_height(http: httpx.AsyncClient, url: str, tally: Tally) -> None:
    """Keep `tally.height` at the validator's height (runs until cancelled)."""
    while True:
        with contextlib.suppress(httpx.HTTPError, ValueError, RuntimeError):
            tally.height = max(tally.height, await _status_height(http, url))
        # a failed poll keeps the last known height; the next one will tell
        await trio.sleep(HEIGHT_POLL_S)


async def idle_heights_per_s(http: httpx.AsyncClient, url: str) -> tuple[int, float]:
    """(height now, heights/s the chain makes just now), over at least PROBE_S and
    PROBE_HEIGHTS heights; RuntimeError if the chain makes no height in PROBE_MAX_S."""
    first, started = await _status_height(http, url), time.monotonic()
    while True:
        await trio.sleep(HEIGHT_POLL_S)
        height, elapsed = await _status_height(http, url), time.monotonic() - started
        climbed = height - first
        if elapsed >= PROBE_S and climbed >= PROBE_HEIGHTS:
            return height, climbed / elapsed
        if elapsed >= PROBE_MAX_S:
            if climbed <= 0:
                raise RuntimeError(f"{url}: the chain made no height in {elapsed:.0f} s")
            return height, climbed / elapsed


async def wait_for_height(http: httpx.AsyncClient, url: str, height: int, limit_s: float) -> int:
    """Poll until the chain is at `height` or above; the height then."""
    with trio.move_on_after(limit_s):
        while True:
            now = await _status_height(http, url)
            if now >= height:
                return now
            await trio.sleep(WAIT_POLL_S)
    raise RuntimeError(f"{url}: the chain did not reach height {height} in {limit_s:.0f} s")


async def follow(http: httpx.AsyncClient, url: str, height: int, tally: Tally) -> None:
    """Time every transfer of ours in the blocks after `height` (runs until cancelled). Blocks
    come raw (`GET /blocks/{h}/raw`); their transactions are matched by their bytes."""
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
        tally.height = max(tally.height, height)


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

    async def offer(self, pool: Pool, count: int) -> None:
        """Send `count` transfers from `pool` at the spec's rate (a full window delays sends;
        that shows as a lower achieved offered rate). Which transfers go depends on
        `tally.height` (see `Pool.take`); if none may go yet, the sender waits for the chain
        (`waited_for_chain_s`); an exhausted pool ends the sending early."""
        tally = self.tally
        start = time.monotonic()
        tally.first_send = start
        tally.first_height = tally.height
        sent = 0
        async with trio.open_nursery() as nursery:
            while sent < count:
                due = start + sent / self.spec.rate
                await trio.sleep(max(0.0, due - time.monotonic()))
                if self.batch:
                    due_now = int((time.monotonic() - start + BATCH_TICK_S) * self.spec.rate)
                    want = min(count - sent, MAX_BATCH_TXS, max(1, due_now - sent))
                else:
                    want = 1
                chunk = pool.take(tally.height, want)
                if not chunk:
                    if pool.exhausted:
                        tally.pool_exhausted = True
                        break
                    paused = time.monotonic()
                    await trio.sleep(WAIT_POLL_S)
                    tally.waited_for_chain_s += time.monotonic() - paused
                    continue
                if self.window.value == 0:
                    tally.window_full += 1
                await self.window.acquire()
                sent_at = time.monotonic()
                for tx in chunk:
                    tally.sent[tx] = sent_at
                tally.submitted += len(chunk)
                tally.last_send = sent_at
                tally.last_height = tally.height
                nursery.start_soon(self._send, chunk)
                sent += len(chunk)


def _process_figures(pids: Sequence[int]) -> list[dict[str, float]]:
    return [{"cpu_s": cpu_seconds(pid), "rss_bytes": float(rss_bytes(pid))} for pid in pids]


async def run_step(spec: StepSpec) -> dict[str, Any]:
    """Plan, pre-sign, wait for the start height, offer, drain; the step's summary (see
    `summarise`)."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        follow_url = spec.api_urls[spec.follow_index]
        height, idle_rate = await idle_heights_per_s(http, follow_url)
        low, high = spec.heights_per_s_low, spec.heights_per_s_high
        if (low, high) == (0.0, 0.0):
            low, high = IDLE_RANGE[0] * idle_rate, IDLE_RANGE[1] * idle_rate
        plan = Validity(height, spec.valid_for_heights, spec.rate, spec.seconds, low, high)
        signing_estimate_s = plan.count() / sign_rate(spec, plan)
        after_signing = await _status_height(http, follow_url)
        start_height = (
            after_signing + math.ceil(idle_rate * signing_estimate_s * START_SLACK) + LEAD_HEIGHTS
        )
        validity = attrs.evolve(plan, start_height=start_height)
        signing_start = time.perf_counter()
        txs = presign(spec, validity)
        signing_s = time.perf_counter() - signing_start
        wires = [tx for _, tx, _ in txs]
        pool = Pool(wires, [until for _, _, until in txs], validity.margin, validity.top)
        tally = Tally()  # no tx_id map: a soak's pool is millions of transfers
        del txs
        waiting = time.monotonic()
        height = await wait_for_height(
            http, follow_url, start_height, 60.0 + 4 * signing_estimate_s
        )
        waited_start_s = time.monotonic() - waiting
        tally.height = height
        submitter = Submitter(spec, tally, random.Random(spec.seed + 1))
        own_cpu = time.process_time()
        load_start = (time.monotonic(), time.time(), _process_figures(spec.validator_pids))
        print("measuring", flush=True)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(track_height, http, follow_url, tally)
                nursery.start_soon(follow, http, follow_url, height, tally)
                await submitter.offer(pool, round(spec.rate * spec.seconds))
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
            "presign_tps": len(wires) / signing_s if signing_s > 0 else 0.0,
            "wall_s": ended - load_start[0],
            "loadgen_cpu_s": own_cpu,
            "started_unix": load_start[1],
            "heights": [height, end_height],  # the measured window's (the CPU figures')
            "validity": {
                "window": validity.window,
                "margin": validity.margin,
                "top": validity.top,
                "start_height": validity.start_height,
                "first_valid_until": validity.until(0),
                "heights_per_s_low": low,
                "heights_per_s_high": high,
                "idle_heights_per_s": idle_rate,
                "signed": len(wires),
                "skipped_expiring": pool.skipped,
                "unused": len(wires) - pool.next,
                "signing_estimate_s": signing_estimate_s,
                "waited_for_start_s": waited_start_s,
            },
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
