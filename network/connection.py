"""One registered peer connection and the transport's counters, as the peer manager sees them.

Kept apart from `network.peers` so the manager reads as policy (who to keep, when to redial)
while this module holds the per-connection plumbing: the bounded send queue, the cancel scope
that ends the connection, and the reason it ended.
"""

from __future__ import annotations

import attrs
import trio

from network.channel import SecureChannel


@attrs.frozen
class TransportStatistics:
    """A snapshot of the transport (trio style: immutable, cheap to take)."""

    connected_peers: tuple[bytes, ...] = ()
    handshakes_in_progress: int = 0  # dials connecting plus handshakes not yet finished
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    handshake_failures: int = 0
    connections_dropped: int = 0
    duplicates_dropped: int = 0
    send_drops: int = 0


@attrs.define
class Counters:
    """The manager's running totals; `TransportStatistics` snapshots are built from them."""

    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    handshake_failures: int = 0
    connections_dropped: int = 0
    duplicates_dropped: int = 0
    send_drops: int = 0


class Connection:
    """A proven peer's channel, its outgoing queue, and how to end it."""

    def __init__(
        self, channel: SecureChannel, address: str, dialer: bytes, queue_frames: int
    ) -> None:
        self.channel = channel
        self.address = address
        self.dialer = dialer
        self.peer = channel.peer_public_key
        self._queue_in, self.queue = trio.open_memory_channel[bytes](queue_frames)
        self.cancel_scope = trio.CancelScope()
        self.finished = trio.Event()
        self.reason = "closed"
        self.peer_misbehaved = False
        self._closing = False

    def offer(self, payload: bytes) -> bool:
        """Queue `payload` for sending; False if the queue is full or the connection ending."""
        if self._closing:
            return False
        try:
            self._queue_in.send_nowait(payload)
        except trio.WouldBlock:
            return False
        return True

    def take_pending(self, max_bytes: int | None = None) -> list[bytes]:
        """Remove and return queued payloads, stopping once `max_bytes` are taken."""
        pending: list[bytes] = []
        taken = 0
        while max_bytes is None or taken < max_bytes:
            try:
                payload = self.queue.receive_nowait()
            except trio.WouldBlock:
                break
            pending.append(payload)
            taken += len(payload)
        return pending

    def close(self, reason: str, *, misbehaved: bool = False) -> None:
        """End the connection; the first reason given is the one logged."""
        if not self._closing:
            self._closing = True
            self.reason = reason
            self.peer_misbehaved = misbehaved
        self.cancel_scope.cancel()
