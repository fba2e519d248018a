"""Gossiped transaction batches, signature-checked in a worker thread before the replica sees them.

Why: every validator verifies every transfer once, about 100 us of C per signature (pynacl
releases the GIL while it runs). Done on the event loop, a gossiped batch of a few hundred
transfers holds up whatever is queued behind it, proposals and votes included, for tens of
milliseconds, and the second core often sits idle meanwhile. Here the inbound pump hands tx
batches to this task instead; it decodes and verifies them in a worker thread (writing nothing
shared), then, back on the event loop, puts the verified ones into the app's cache and
dispatches the batch as the replica always received it: admission then finds them verified.
Consensus messages are not queued behind a batch being verified.

Only while the mempool has room: a full pool refuses gossip before any signature check
(`ledger.mempool`), and a batch offered then is handled inline, as before. Verified
transactions that did not enter the mempool (refused, or dropped as already seen) are removed
from the cache again, so it holds what is pending, as without this task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from consensus.codec import DecodeError
from consensus.replica.wire import TxsMsg, decode_wire, message_kind
from ledger.mempool import Mempool
from ledger.txcodec import DecodedTx
from ledger.validation import VerifiedTxCache

QUEUED_BATCHES = 64
"""Batches waiting for their signature checks; beyond this they are handled inline."""


class TxPrecheck:
    """The tx-batch side of the inbound pump (see the module docstring)."""

    def __init__(
        self,
        cache: VerifiedTxCache,
        mempool: Mempool,
        *,
        dispatch: Callable[[bytes, bytes], None],
        wait_for_room: Callable[[], Awaitable[None]],
        capacity: int = QUEUED_BATCHES,
    ) -> None:
        self._cache = cache
        self._mempool = mempool
        self._dispatch = dispatch
        self._wait_for_room = wait_for_room
        self._send, self._receive = trio.open_memory_channel[tuple[bytes, bytes]](capacity)
        self.batches = 0  # handed to the worker thread so far
        self.prechecked = 0  # transactions verified there

    def offer(self, peer: bytes, payload: bytes) -> bool:
        """Take `payload` if it is a tx batch and there is room; False: handle it inline."""
        if message_kind(payload) != "txs" or self._mempool.is_full():
            return False
        try:
            self._send.send_nowait((peer, payload))
        except trio.WouldBlock:
            return False
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with self._receive:
            async for peer, payload in self._receive:
                verified = await trio.to_thread.run_sync(self._check, payload)
                self.batches += 1
                self.prechecked += len(verified)
                self._cache.absorb(verified)
                self._dispatch(peer, payload)
                contains = self._mempool.contains
                self._cache.forget(tx for tx, dtx in verified if not contains(dtx.tx.tx_id))
                await self._wait_for_room()

    def _check(self, payload: bytes) -> list[tuple[bytes, DecodedTx]]:
        """In a worker thread: the batch's transactions that pass every static check."""
        try:
            msg = decode_wire(payload)
        except DecodeError:
            return []  # the replica refuses it (and counts the peer's misbehaviour)
        if not isinstance(msg, TxsMsg):
            return []
        return self._cache.preverify(msg.txs)
