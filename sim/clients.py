"""Simulated clients: they sign, submit to any validator, retry, fetch receipts, and remember.

What a careful client does (issue 12), and what this one does in the simulator. It signs a
transaction once, with a nonce (its idempotency key) and a validity limit in chain time, and
submits the bytes to some validator, any of them, faulty ones included (a crashed one loses
the submission, a paused one holds it, a silent one never gossips it). Until the transaction
is final or expired it keeps asking a validator for a receipt and, while there is none,
re-sends the *exact same bytes* to another validator. A receipt is built from the answering
validator's store as its API would build it (the block, its result leaves and its commit
certificate at the place the used-id index names: `sim.receipts`, which gives what
`ledger.receipt.build_receipt` gives) and checked alone as the SDK does (`verify_receipt`
with the genesis validators, against the bytes the client signed). A verified receipt is
what the client "saw final": it is reported to the exactly-once checker, which compares it
with the chain correct validators decided.

To probe the exactly-once rules the clients also misbehave on purpose, all drawn from the
workload stream: they re-send a transaction's bytes at once to a second validator and again
long after it is final; they sign another body under a nonce already used, both while the
first is pending (a race: one of the two may commit, never both) and after its validity
window (it must not commit if the first did); and they re-send bytes after they expired.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Sequence
from typing import Protocol

import attrs

from consensus.codec import DecodeError
from consensus.crypto import Signer
from consensus.interfaces import Store
from consensus.replica.block import decode_block
from ledger.receipt import ReceiptError, verify_receipt
from ledger.signing import make_tx
from ledger.tx import Body, Mint, Redeem, Transfer, derive_tx_id
from ledger.txcodec import TxDecodeError, from_wire
from sim.exactly_once import ExactlyOnce, Where
from sim.receipts import ReceiptServer
from sim.stack import World

MAX_BLOCK_BYTES = 8_000_000
CHECKS_PER_TICK = 8


class Validator(Protocol):
    """What a client sees of a validator: whether it answers, and its store."""

    @property
    def up(self) -> bool: ...

    @property
    def store(self) -> Store | None: ...


@attrs.define
class Sent:
    """A signed transaction a client is responsible for."""

    raw: bytes
    signer: Signer
    nonce: bytes
    body: Body
    valid_until_ms: int
    tries: int = 0

    @property
    def tx_id(self) -> bytes:
        return derive_tx_id(self.signer.public_key, self.nonce)


@attrs.define
class ClientStats:
    signed: int = 0
    resent: int = 0
    resent_at_once: int = 0
    resent_when_final: int = 0
    resent_after_expiry: int = 0
    reused_pending: int = 0
    reused_after_window: int = 0
    receipts: int = 0
    final: int = 0
    asked_again: int = 0  # receipts fetched again for a final transaction
    expired: int = 0
    superseded: int = 0


class Clients:
    """The clients of one run (see the module docstring)."""

    def __init__(self, world: World, rng: random.Random, checker: ExactlyOnce) -> None:
        self._world = world
        self._rng = rng
        self._checker = checker
        self._names = {s.public_key: f"client {i}" for i, s in enumerate(world.clients.all())}
        self._queue: list[tuple[int, int, str, Sent]] = []  # (due ms, seq, what, tx)
        self._seq = 0
        self._pending: dict[bytes, list[Sent]] = {}  # signer -> its transactions in flight
        self._times: dict[tuple[int, bytes], int] = {}  # (height, block) -> its time
        self._server = ReceiptServer()
        self._validators = 1  # instances to choose from (set by each tick)
        self.stats = ClientStats()
        self.out: list[tuple[int, bytes]] = []  # (validator instance, bytes) to submit now

    # ------------------------------------------------------------ signing and sending

    def sign(self, signer: Signer, body: Body, now_ms: int, nonce: bytes | None = None) -> Sent:
        """Sign `body` (with a fresh nonce, or re-using `nonce`) and track it until final."""
        rng = self._rng
        nonce = rng.randbytes(16) if nonce is None else nonce
        until = now_ms + rng.randint(1_500, 15_000)
        raw = make_tx(signer, self._world.chain_id, body, nonce=nonce, valid_until_ms=until)
        sent = Sent(raw, signer, nonce, body, until)
        self.stats.signed += 1
        self._checker.signed(raw)
        self._pending.setdefault(signer.public_key, []).append(sent)
        self._schedule(now_ms + rng.randint(200, 1_500), "check", sent)
        return sent

    def reusable_nonce(self, signer: Signer) -> bytes | None:
        """A nonce of one of `signer`'s transactions still in flight (None if it has none)."""
        mine = self._pending.get(signer.public_key)
        if not mine:
            return None
        self.stats.reused_pending += 1
        return self._rng.choice(mine).nonce

    def send(self, raw: bytes, count: int) -> None:
        """Submit `raw` to `count` validators, chosen at random among all of them."""
        for _ in range(count):
            self.out.append((self._rng.randrange(self._validators), raw))

    def _schedule(self, due_ms: int, what: str, sent: Sent) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (due_ms, self._seq, what, sent))

    # ------------------------------------------------------------ the clients' own time

    def tick(self, now_ms: int, validators: Sequence[Validator]) -> None:
        """Do what is due: check receipts, retry, and the deliberate misbehaviour."""
        self._validators = len(validators)
        for _ in range(CHECKS_PER_TICK):
            if not self._queue or self._queue[0][0] > now_ms:
                return
            _, _, what, sent = heapq.heappop(self._queue)
            if what == "check":
                self._check(now_ms, sent, validators)
            elif what == "reuse":
                self.stats.reused_after_window += 1
                again = self.sign(sent.signer, variant(sent.body, self._rng), now_ms, sent.nonce)
                self.send(again.raw, 1)
            else:
                self.send(sent.raw, 1)
                if what == "final":
                    self.stats.resent_when_final += 1
                    self._ask_again(sent, validators)
                else:
                    self.stats.resent_after_expiry += 1

    def _check(self, now_ms: int, sent: Sent, validators: Sequence[Validator]) -> None:
        rng = self._rng
        answering = [v for v in validators if v.up and v.store is not None]
        if not answering:
            self._schedule(now_ms + 500, "check", sent)
            return
        store = rng.choice(answering).store
        assert store is not None
        found = self._receipt(store, sent)
        if found == "pending":
            if self._chain_time(store) > sent.valid_until_ms:
                self._done(sent)
                self.stats.expired += 1
                self._after(now_ms, sent, "expired")
                return
            sent.tries += 1
            if rng.random() < 0.5:  # no receipt yet: maybe the submission was lost
                self.stats.resent += 1
                self.send(sent.raw, 1)
            self._schedule(
                now_ms + rng.randint(300, 300 + 200 * min(sent.tries, 10)), "check", sent
            )
        elif found == "superseded":
            self._done(sent)
            self.stats.superseded += 1
        else:
            assert isinstance(found, Where)
            self._done(sent)
            self.stats.final += 1
            self._checker.saw_final(sent.raw, found, self._names[sent.signer.public_key])
            self._after(now_ms, sent, "final")

    def _ask_again(self, sent: Sent, validators: Sequence[Validator]) -> None:
        """A retry of a final transaction gets its first outcome back: the receipt any
        validator gives now must be the one the client already holds."""
        answering = [v for v in validators if v.up and v.store is not None]
        if answering:
            store = self._rng.choice(answering).store
            assert store is not None
            found = self._receipt(store, sent)
            if isinstance(found, Where):
                self.stats.asked_again += 1
                self._checker.saw_final(sent.raw, found, self._names[sent.signer.public_key])

    def _after(self, now_ms: int, sent: Sent, why: str) -> None:
        """Schedule the deliberate misbehaviour around a finished transaction."""
        rng = self._rng
        if rng.random() < 0.25:
            self._schedule(now_ms + rng.randint(200, 5_000), why, sent)
        if rng.random() < 0.15:
            past = max(now_ms, sent.valid_until_ms + 1_000)
            self._schedule(past + rng.randint(0, 3_000), "reuse", sent)

    def _done(self, sent: Sent) -> None:
        mine = self._pending.get(sent.signer.public_key, [])
        if sent in mine:
            mine.remove(sent)

    # ------------------------------------------------------------ asking a validator

    def _receipt(self, store: Store, sent: Sent) -> Where | str:
        """A verified receipt's verdict, "pending" (no record) or "superseded" (the id went
        to another of the client's transactions)."""
        try:
            receipt = self._server.receipt(store, sent.tx_id)
        except ValueError as exc:
            self._checker.bad_receipt(f"a validator's store gives no receipt for it: {exc}")
            return "pending"
        if receipt is None:
            return "pending"
        self.stats.receipts += 1
        if receipt.tx != sent.raw and decode_tx_id(receipt.tx) == sent.tx_id:
            return "superseded"
        world = self._world
        try:
            proved = verify_receipt(
                receipt,
                chain_id=world.chain_id,
                validators=world.validators,
                scheme=world.scheme,
                signed=sent.raw,
            )
        except ReceiptError as exc:
            self._checker.bad_receipt(f"the receipt of a committed transaction fails: {exc}")
            return "pending"
        return Where(proved.height, proved.index, proved.code)

    def _chain_time(self, store: Store) -> int:
        """The time of the validator's latest block (chain time only grows)."""
        height = store.last_height()
        raw = store.load_block(height) if height else None
        if raw is None:
            return 0
        key = (height, raw)  # correct validators hold the same bytes: decoded once
        if key not in self._times:
            try:
                self._times[key] = decode_block(raw, MAX_BLOCK_BYTES).header.time_ms
            except DecodeError:
                self._times[key] = 0
            if len(self._times) > 64:
                del self._times[next(iter(self._times))]
        return self._times[key]


def decode_tx_id(raw: bytes) -> bytes | None:
    try:
        return from_wire(raw).tx_id
    except TxDecodeError:
        return None


def variant(body: Body, rng: random.Random) -> Body:
    """Another body from the same signer (for a nonce used again)."""
    if isinstance(body, Transfer):
        return attrs.evolve(body, memo=f"again-{rng.randrange(10**6)}")
    if isinstance(body, Mint):
        return attrs.evolve(body, deposit_ref=f"again-{rng.randrange(10**9)}")
    if isinstance(body, Redeem):
        return attrs.evolve(body, amount=body.amount + 1)
    return Redeem("USD", 1 + rng.randrange(100))
