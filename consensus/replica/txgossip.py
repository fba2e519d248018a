"""Transaction gossip: client submissions, batched broadcast, gossiped batches, and relay.

A mixin of `Replica` (see `consensus.replica.base`). A transaction a client submits enters the
mempool and leaves in a batch (`TxsMsg`) after `tx_flush_interval_ms` or at `tx_batch_max`.
Gossiped batches are deduplicated by hash before any signature check. A broadcast reaches only
the peers connected at that moment, so a peer that (re)connects gets our pending transactions
(bounded): what one correct validator received then reaches every correct one.
"""

from __future__ import annotations

from collections.abc import Sequence

from consensus.replica import events as ev
from consensus.replica.base import TXS_TIMER, ReplicaParts
from consensus.replica.block import tx_hash
from consensus.replica.chain import next_block_time
from consensus.replica.wire import TxsMsg, encode_wire


class TxGossip(ReplicaParts):
    """Client transactions and their gossip (mixed into Replica)."""

    def _on_client_tx(self, tx: bytes, now_ms: int) -> list[ev.ReplicaEffect]:
        admission = self._mempool.add(tx, self._admission_time(now_ms))
        out: list[ev.ReplicaEffect] = [ev.TxAdmitted(admission)]
        if not admission.accepted:
            return out
        self._seen.check_and_add(tx_hash(tx))
        self._tx_batch.append(tx)
        if len(self._tx_batch) >= self.config.tx_batch_max:
            out += self._flush_txs()
        elif not self._tx_timer_armed:
            self._tx_timer_armed = True
            out.append(ev.SetTimer(now_ms + self.config.tx_flush_interval_ms, TXS_TIMER))
        if self._waiting():
            out += self._begin_height(now_ms)
        return out

    def _admission_time(self, now_ms: int) -> int:
        """The time a block this validator proposed now would carry: what a transaction's
        validity window is judged against at admission."""
        return next_block_time(self._tip, self.config, now_ms)

    def _relay_pending(self, peer: bytes) -> list[ev.ReplicaEffect]:
        """Our pending transactions for a peer that (re)connected: it may have missed their
        gossip. Bounded in count and bytes; batches of at most `tx_batch_max` and half the
        message cap; the receiver drops what it already knows by hash."""
        config = self.config
        pending = self._mempool.pending(config.relay_max_bytes, config.relay_max_txs)
        out: list[ev.ReplicaEffect] = []
        batch: list[bytes] = []
        size = 0
        for tx in pending:
            if batch and (
                len(batch) >= config.tx_batch_max or size + len(tx) > config.max_message_bytes // 2
            ):
                out.append(ev.SendTo(peer, encode_wire(TxsMsg(tuple(batch)))))
                batch, size = [], 0
            batch.append(tx)
            size += len(tx)
        if batch:
            out.append(ev.SendTo(peer, encode_wire(TxsMsg(tuple(batch)))))
        return out

    def _flush_txs(self) -> list[ev.ReplicaEffect]:
        if not self._tx_batch:
            return []
        batch, self._tx_batch = tuple(self._tx_batch), []
        return [ev.BroadcastPayload(encode_wire(TxsMsg(batch)))]

    def _on_txs(self, txs: Sequence[bytes], now_ms: int) -> list[ev.ReplicaEffect]:
        """Gossiped transactions: drop known ones by hash before any signature check."""
        time_ms = self._admission_time(now_ms)
        for tx in txs:
            if not self._seen.check_and_add(tx_hash(tx)):
                self._mempool.add(tx, time_ms)
        if self._waiting() and len(self._mempool) > 0:
            return self._begin_height(now_ms)
        return []
