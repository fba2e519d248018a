"""One registered peer connection and the transport's counters, as the peer manager sees them.

Kept apart from `network.peers` so the manager reads as policy (who to keep, when to redial)
while this module holds the per-connection plumbing: the bounded send queue, the reader and the
batching writer with its keepalives, the cancel scope that ends the connection, and the reason
it ended.
"""

from __future__ import annotations

import math

import attrs
import trio

from network.channel import ChannelError, SecureChannel
from network.framing import FrameError

WRITE_BATCH_BYTES = 256 * 1024
"""Queued payloads are sealed and written together, up to about this much per write."""

_LOST = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


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

    async def serve(
        self,
        inbound: trio.MemorySendChannel[tuple[bytes, bytes]],
        *,
        keepalive_s: float,
        idle_timeout_s: float,
    ) -> None:
        """Read into `inbound` and write from the queue until the connection ends.

        Peer faults and lost connections end it quietly, with `reason` set; a closed `inbound`
        channel (the node going down) and our own bugs propagate.
        """
        with self.cancel_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, keepalive_s)
                await self._read(inbound, idle_timeout_s)
                nursery.cancel_scope.cancel()

    async def _read(
        self, inbound: trio.MemorySendChannel[tuple[bytes, bytes]], idle_timeout_s: float
    ) -> None:
        with trio.CancelScope() as idle:
            while True:
                idle.deadline = trio.current_time() + idle_timeout_s
                try:
                    payload = await self.channel.receive()
                except (ChannelError, FrameError) as exc:
                    self.close(str(exc), misbehaved=True)
                    return
                except _LOST as exc:
                    self.close(f"connection lost ({exc!r})")
                    return
                if payload is None:
                    self.close("closed by the peer")
                    return
                if payload:  # empty payloads are keepalives
                    idle.deadline = math.inf  # our own back-pressure is not the peer's silence
                    await inbound.send((self.peer, payload))
        self.close(f"silent for {idle_timeout_s:g} s", misbehaved=True)

    async def _write(self, keepalive_s: float) -> None:
        try:
            while True:
                batch = [b""]  # a keepalive unless a payload turns up in time
                with trio.move_on_after(keepalive_s):
                    batch = [await self.queue.receive()]
                    batch += self.take_pending(WRITE_BATCH_BYTES)
                await self.channel.send_many(batch)
        except _LOST as exc:
            self.close(f"connection lost while sending ({exc!r})")
