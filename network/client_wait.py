"""`submit_and_wait`: submit signed bytes, re-send the same bytes until final, prove it.

Theory of operation. Exactly-once rests on two facts the chain guarantees: a tx_id commits at
most once, ever, and only the signer's key can make a transaction with its id. So the client
may send the same signed bytes as often and to as many validators as it likes; all it needs is
to keep them alive until one commits, and then a receipt that proves *these* bytes committed.
One wait runs, in one nursery:

- a first sender offers the bytes to the validators in turn (the last one that worked first)
  until one takes them (accepted, already pending, already committed, or holding another
  transaction with the id: then the watchers decide);
- one watcher per validator polls `GET /txs/{id}` on its own (a stopped or slow validator
  delays only its own watcher). A served receipt is verified (`check_receipt`); a good one
  ends the wait, a lying one makes the validator a suspect, which is then ignored. While its
  validator does not know the transaction at all ("unknown": not pending there, not
  committed), a watcher re-sends the same bytes to it every `resend_after_s` once the
  transaction has been delivered somewhere: this is what recovers a transaction accepted by
  a validator that died (or lost it) before gossiping it; gossip normally makes this moot
  within milliseconds, and a re-send costs an honest validator one cheap answer;
- an expiry watcher reads a certified latest header every `EXPIRY_CHECK_S`. Once one's time
  is past the transaction's `valid_until_ms`, the transaction can never be in a later block;
  if it never committed, every honest validator at that height or above says "not committed".
  The wait ends with `TxExpired` when validators making up more than a third of the URLs it
  was given (so at least one honest one, if at most a third of them lie) have said so at or
  above that height and none served a valid receipt.

The wait also ends with `TxIdUsed` (a verified receipt shows another transaction of the same
signer and nonce took the id), `TxRejected` (every validator refused the bytes for a reason a
retry cannot fix) or, after `timeout_s`, `FinalityTimeout` (nothing is known: the transaction
may still commit; waiting again with the same bytes is safe).
"""

from __future__ import annotations

import math

import attrs
import trio

from ledger.receipt import ReceiptError
from network.client import DepositClient, ServedCommit, SubmitResult, parse_committed
from network.client_errors import (
    ClientError,
    FinalityTimeout,
    NodeUnavailable,
    TxExpired,
    TxRejected,
)
from network.client_proofs import FinalReceipt, precheck

EXPIRY_CHECK_S = 1.0
"""How often a waiting client reads a certified latest header to learn the chain time."""
MAX_POLL_S = 0.5
"""Polls start every `poll_s` and slow down to this (a long wait need not hammer validators)."""
POLL_GROWTH = 1.2
DELIVERED = frozenset({"OK", "ALREADY_IN_MEMPOOL", "ALREADY_COMMITTED", "DUPLICATE_TX_ID"})
"""Verdicts after which the first sender stops: the validator holds these bytes, or knows the
id (the watchers learn the rest)."""
TRANSIENT = frozenset({"MEMPOOL_FULL", "EXPIRED", "TOO_FAR_AHEAD", "RATE_LIMITED"})
"""Refusals that a retry (or the expiry watcher) settles: never a reason to give up."""


@attrs.define
class _Wait:
    """The shared state of one wait (only ever touched from the wait's trio tasks)."""

    client: DepositClient
    signed: bytes
    tx_id: bytes
    valid_until_ms: int
    resend_after_s: float
    poll_s: float
    delivered_at: float | None = None  # when a validator first took the bytes
    sent_at: dict[str, float] = attrs.field(factory=dict)
    not_committed: dict[str, int] = attrs.field(factory=dict)  # url -> checked height
    refusals: dict[str, str] = attrs.field(factory=dict)  # url -> lasting refusal
    expired_at: tuple[int, int] | None = None  # (height, time) of a header past validity
    outcome: FinalReceipt | None = None
    failure: ClientError | None = None
    done: trio.Event = attrs.field(factory=trio.Event)

    # ------------------------------------------------------------ endings

    def finish(
        self, outcome: FinalReceipt | None = None, failure: ClientError | None = None
    ) -> None:
        if self.done.is_set():
            return
        self.outcome, self.failure = outcome, failure
        self.done.set()

    def judge(self, url: str, served: ServedCommit) -> None:
        """A validator says the id committed: end the wait if its receipt proves it."""
        try:
            self.finish(outcome=self.client.judge(url, served, self.signed))
        except ReceiptError as exc:
            self.client.suspect(url, f"receipt of {self.tx_id.hex()}: {exc}")
        except ClientError as exc:  # TxIdUsed: conclusive
            self.finish(failure=exc)

    def live_urls(self) -> list[str]:
        return [u for u in self.client.node_urls if u not in self.client.suspects]

    # ------------------------------------------------------------ sending

    async def send(self, url: str) -> bool:
        """Offer the bytes to `url`; True if it took them (or knows the id)."""
        try:
            verdict: SubmitResult = await self.client.submit_to(url, self.signed)
        except NodeUnavailable:
            return False
        now = trio.current_time()
        self.sent_at[url] = now
        if verdict.committed is not None:
            self.judge(url, verdict.committed)
        if url in self.client.suspects:
            return False
        if verdict.code in DELIVERED:
            self.refusals.pop(url, None)
            if self.delivered_at is None:
                self.delivered_at = now
            return True
        if verdict.code not in TRANSIENT:
            self.refusals[url] = f"{verdict.code}: {verdict.message or 'no reason given'}"
            live = self.live_urls()
            if live and all(u in self.refusals for u in live):
                self.finish(failure=TxRejected(self.tx_id, dict(self.refusals)))
        return False

    async def first_send(self) -> None:
        delay_s = self.poll_s
        while not self.done.is_set():
            for url in self.client.ordered_urls():
                if url not in self.client.suspects and await self.send(url):
                    self.client.prefer(url)
                    return
            await trio.sleep(delay_s)
            delay_s = min(delay_s * 2, self.resend_after_s)

    def resend_due(self, url: str) -> bool:
        if self.delivered_at is None or self.expired_at is not None:
            return False
        last = max(self.delivered_at, self.sent_at.get(url, -math.inf))
        return trio.current_time() - last >= self.resend_after_s

    # ------------------------------------------------------------ watching

    async def watch(self, url: str) -> None:
        interval_s = self.poll_s
        path = f"/txs/{self.tx_id.hex()}"
        while not self.done.is_set() and url not in self.client.suspects:
            try:
                status, body = await self.client.request_one(url, "GET", path)
                served = parse_committed(body.get("committed")) if status == 200 else None
                checked = body.get("checked_height") if status == 200 else None
                unknown = status == 200 and body.get("state") == "unknown"
            except (NodeUnavailable, AttributeError):
                served, checked, unknown = None, None, False
            except ValueError as exc:
                self.client.suspect(url, f"malformed answer for {self.tx_id.hex()}: {exc}")
                return
            if served is not None:
                self.judge(url, served)
            elif type(checked) is int:
                self.not_committed[url] = max(checked, self.not_committed.get(url, 0))
                self.check_expired()
                if unknown and self.resend_due(url):
                    await self.send(url)
            await trio.sleep(interval_s)
            interval_s = min(interval_s * POLL_GROWTH, MAX_POLL_S)

    async def watch_expiry(self) -> None:
        while not self.done.is_set():
            await trio.sleep(EXPIRY_CHECK_S)
            try:
                verified = await self.client.latest_header()
            except ClientError:
                continue
            if verified is not None and verified.header.time_ms > self.valid_until_ms:
                if self.expired_at is None or verified.header.height < self.expired_at[0]:
                    self.expired_at = (verified.header.height, verified.header.time_ms)
                self.check_expired()

    def check_expired(self) -> None:
        if self.expired_at is None:
            return
        height, time_ms = self.expired_at
        live = self.live_urls()
        agree = [u for u in live if self.not_committed.get(u, -1) >= height]
        if 3 * len(agree) > len(self.client.node_urls):
            self.finish(failure=TxExpired(self.tx_id, self.valid_until_ms, height, time_ms))


async def wait_until_final(
    client: DepositClient,
    signed: bytes,
    *,
    timeout_s: float | None,
    resend_after_s: float,
    poll_s: float,
) -> FinalReceipt:
    """See the module docstring."""
    if not (resend_after_s > 0 and poll_s > 0):
        raise ClientError("resend_after_s and poll_s must be positive")
    decoded = precheck(client.genesis, signed)
    wait = _Wait(
        client, signed, decoded.tx.tx_id, decoded.tx.valid_until_ms, resend_after_s, poll_s
    )
    with trio.move_on_after(math.inf if timeout_s is None else timeout_s):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait.first_send)
            nursery.start_soon(wait.watch_expiry)
            for url in client.node_urls:
                nursery.start_soon(wait.watch, url)
            await wait.done.wait()
            nursery.cancel_scope.cancel()
    if wait.outcome is not None:
        client.prefer(wait.outcome.node_url)
        return wait.outcome
    if wait.failure is not None:
        raise wait.failure
    raise FinalityTimeout(
        f"tx {wait.tx_id.hex()} was not final after {timeout_s:g} s; it may still commit "
        "(waiting again, or re-sending the same bytes, is safe)"
    )
