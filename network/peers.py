"""The peer manager: one live, authenticated connection per peer, kept alive.

Theory of operation. `PeerManager.run` listens on one TCP address and runs a dial loop per
configured peer. Every connection, dialed or accepted, first completes the handshake (bounded in
time and size; at most `max_pending_handshakes` at once); a stranger never gets further. A
proven peer's connection is then *registered*:

- if we have no live connection to that key, it becomes the live one (`on_connect(key)`);
- if we do, the two were dialed from opposite ends (both sides dialed at once) or from the same
  end (the peer reconnected). Opposite ends: keep the one dialed by the lower key, a rule both
  ends apply identically, so they settle on the same connection. Same end: keep the newer, the
  old one is dead on the dialer's side. A replaced connection yields `on_disconnect(key)` then
  `on_connect(key)`, so for each key the calls strictly alternate, starting with a connect.

A live connection runs a reader, which delivers `(peer_key, payload)` on the one bounded
`inbound` channel (back-pressure reaches the peer's TCP window when we fall behind), and a
writer, which drains a bounded per-peer queue filled by `send_nowait` (a full queue drops the
payload and counts it). An idle writer sends an empty keepalive frame every `keepalive_s`; a
reader that hears nothing for `idle_timeout_s` drops the connection, so a peer that vanished
silently is noticed and redialed. Empty payloads are therefore reserved and never delivered.

Anything the peer does wrong (bad bytes, failed authentication, oversized frames, silence) ends
that one connection with a single log line naming the address and the reason; it never stops
the manager. Exceptions from our own code, including the callbacks, do.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from functools import partial

import trio

from consensus.crypto import Ed25519Signer
from network.addresses import PeerAddress
from network.backoff import Backoff
from network.channel import TAG_BYTES
from network.connection import Connection, Counters, TransportStatistics
from network.framing import MAX_FRAME_BYTES
from network.handshake import DEFAULT_HANDSHAKE_TIMEOUT_S, HandshakeError, perform_handshake

__all__ = ["PeerAddress", "PeerManager", "TransportStatistics"]

log = logging.getLogger(__name__)


class PeerManager:
    """Dials, accepts and keeps one encrypted connection per allowed peer."""

    def __init__(
        self,
        *,
        node_key: Ed25519Signer,
        chain_id: str,
        listen_host: str,
        listen_port: int,
        peers: Sequence[PeerAddress],
        is_allowed: Callable[[bytes], bool],
        inbound: trio.MemorySendChannel[tuple[bytes, bytes]],
        rng: random.Random | None = None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        on_connect: Callable[[bytes], None] | None = None,
        on_disconnect: Callable[[bytes], None] | None = None,
        send_queue_frames: int = 1024,
        handshake_timeout_s: float = DEFAULT_HANDSHAKE_TIMEOUT_S,
        redial_base_s: float = 0.1,
        redial_cap_s: float = 5.0,
        keepalive_s: float = 2.0,
        idle_timeout_s: float = 10.0,
        max_pending_handshakes: int = 64,
    ) -> None:
        if max_frame_bytes <= TAG_BYTES:
            raise ValueError("max_frame_bytes too small")
        if send_queue_frames < 1 or max_pending_handshakes < 1:
            raise ValueError("queue and handshake limits must be positive")
        if not 0 < keepalive_s < idle_timeout_s:
            raise ValueError("need 0 < keepalive_s < idle_timeout_s")
        if not 0 < redial_base_s <= redial_cap_s:
            raise ValueError("need 0 < redial_base_s <= redial_cap_s")
        self._node_key = node_key
        self._chain_id = chain_id
        self._listen_host = listen_host
        self._listen_port = listen_port
        self._peers = tuple(peers)
        self._is_allowed = is_allowed
        self._inbound = inbound
        self._rng = rng if rng is not None else random.Random()
        self._max_frame_bytes = max_frame_bytes
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._send_queue_frames = send_queue_frames
        self._handshake_timeout_s = handshake_timeout_s
        self._redial = (redial_base_s, redial_cap_s)
        self._keepalive_s = keepalive_s
        self._idle_timeout_s = idle_timeout_s
        self._max_pending_handshakes = max_pending_handshakes
        self._pending_handshakes = 0
        self._dialing = 0
        self._live: dict[bytes, Connection] = {}
        self._counts = Counters()
        # configured address -> (dialing state, key once known), for `peer_states`
        self._dial_states: dict[PeerAddress, tuple[str, bytes | None]] = {}

    # ------------------------------------------------------------------ public API

    @property
    def max_payload_bytes(self) -> int:
        return self._max_frame_bytes - TAG_BYTES

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, dial every configured peer, and serve until cancelled.

        Reports the actual listen port through `task_status.started(port)`.
        """
        listeners = await trio.open_tcp_listeners(self._listen_port, host=self._listen_host)
        port: int = listeners[0].socket.getsockname()[1]
        log.info("listening on %s:%d as %s", self._listen_host, port, _short(self._key))
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(trio.serve_listeners, self._accept, listeners))
            for address in self._peers:
                nursery.start_soon(self._dial_loop, address)
            task_status.started(port)

    def send_nowait(self, peer: bytes, payload: bytes) -> bool:
        """Queue `payload` for `peer`; False (and counted) if not connected or its queue is full."""
        self._check_payload(payload)
        conn = self._live.get(peer)
        if conn is None or not conn.offer(payload):
            self._counts.send_drops += 1
            return False
        return True

    def broadcast_nowait(self, payload: bytes) -> None:
        """Queue `payload` for every connected peer (drops counted per peer)."""
        self._check_payload(payload)
        for peer in self.connected_peers():
            self.send_nowait(peer, payload)

    def connected_peers(self) -> tuple[bytes, ...]:
        """Keys of the peers with a live connection, sorted."""
        return tuple(sorted(self._live))

    def peer_states(self) -> dict[str, int]:
        """Live connections ("connected"), and configured peers not live: "connecting" (TCP
        connect or handshake in progress) or "backoff" (waiting to redial)."""
        counts = {"connected": len(self._live), "connecting": 0, "backoff": 0}
        for state, key in self._dial_states.values():
            if key is None or key not in self._live:
                counts[state] += 1
        return counts

    def disconnect(self, peer: bytes, reason: str) -> None:
        """Drop the live connection to `peer` (it will be redialed if it is configured)."""
        conn = self._live.get(peer)
        if conn is not None:
            conn.close(reason)

    def statistics(self) -> TransportStatistics:
        """A frozen snapshot of the transport's counters."""
        live = self._live.values()
        counts = self._counts
        return TransportStatistics(
            connected_peers=self.connected_peers(),
            handshakes_in_progress=self._pending_handshakes + self._dialing,
            frames_in=counts.frames_in + sum(c.channel.frames_received for c in live),
            frames_out=counts.frames_out + sum(c.channel.frames_sent for c in live),
            bytes_in=counts.bytes_in + sum(c.channel.bytes_received for c in live),
            bytes_out=counts.bytes_out + sum(c.channel.bytes_sent for c in live),
            handshake_failures=counts.handshake_failures,
            connections_dropped=counts.connections_dropped,
            duplicates_dropped=counts.duplicates_dropped,
            send_drops=counts.send_drops,
        )

    # ------------------------------------------------------------------ connections

    @property
    def _key(self) -> bytes:
        return self._node_key.public_key

    def _check_payload(self, payload: bytes) -> None:
        if not payload:
            raise ValueError("empty payloads are reserved for keepalives")
        if len(payload) > self.max_payload_bytes:
            raise ValueError(f"payload of {len(payload)} bytes over {self.max_payload_bytes}")

    async def _accept(self, stream: trio.SocketStream) -> None:
        try:
            host, port = stream.socket.getpeername()[:2]
            address = f"{host}:{port}"
        except OSError:
            address = "?"
        await self._connection(stream, address, dialed_to=None)

    async def _dial_loop(self, address: PeerAddress) -> None:
        backoff = Backoff(self._rng, base_s=self._redial[0], cap_s=self._redial[1])
        known = address.public_key
        failures = 0
        while True:
            if known is not None:
                await self._wait_disconnected(known)
            self._dial_states[address] = ("connecting", known)
            stream, problem = await self._dial(address)
            if stream is None:
                self._dial_states[address] = ("backoff", known)
                failures += 1
                delay = backoff.next_delay_s()
                # The first failure of a streak is news; the rest of it is noise.
                level = logging.INFO if failures == 1 else logging.DEBUG
                log.log(level, "dial %s failed (%s); retrying in %.2f s", address, problem, delay)
                await trio.sleep(delay)
                continue
            failures = 0
            peer, was_live = await self._connection(stream, str(address), dialed_to=address)
            known = known or peer
            self._dial_states[address] = ("backoff", known)
            if was_live:
                backoff.reset()
            await trio.sleep(backoff.next_delay_s())

    async def _dial(self, address: PeerAddress) -> tuple[trio.SocketStream | None, str]:
        """A TCP connection to `address`, or None and the reason we could not open one."""
        self._dialing += 1
        try:
            with trio.fail_after(self._handshake_timeout_s):
                return await trio.open_tcp_stream(address.host, address.port), ""
        except trio.TooSlowError:
            return None, f"no answer within {self._handshake_timeout_s:g} s"
        except OSError as exc:
            return None, str(exc) or repr(exc)
        finally:
            self._dialing -= 1

    async def _wait_disconnected(self, peer: bytes) -> None:
        while (conn := self._live.get(peer)) is not None:
            await conn.finished.wait()

    async def _connection(
        self, stream: trio.SocketStream, address: str, *, dialed_to: PeerAddress | None
    ) -> tuple[bytes | None, bool]:
        """Handshake, register and serve one connection; (peer key or None, was it live)."""
        try:
            if self._pending_handshakes >= self._max_pending_handshakes:
                log.warning("dropped %s: too many pending handshakes", address)
                self._counts.handshake_failures += 1
                return None, False
            self._pending_handshakes += 1
            try:
                channel = await perform_handshake(
                    stream,
                    node_key=self._node_key,
                    chain_id=self._chain_id,
                    initiator=dialed_to is not None,
                    is_allowed=self._is_allowed,
                    expected_peer=None if dialed_to is None else dialed_to.public_key,
                    timeout_s=self._handshake_timeout_s,
                    max_frame_bytes=self._max_frame_bytes,
                )
            except HandshakeError as exc:
                log.warning("dropped %s: handshake failed: %s", address, exc)
                self._counts.handshake_failures += 1
                return None, False
            finally:
                self._pending_handshakes -= 1
            if dialed_to is not None:  # its key is known now, so live means not dialing
                self._dial_states[dialed_to] = ("connecting", channel.peer_public_key)
            dialer = self._key if dialed_to is not None else channel.peer_public_key
            conn = Connection(channel, address, dialer, self._send_queue_frames)
            if not self._register(conn):
                return conn.peer, False
            try:
                await self._serve(conn)
            finally:
                self._unregister(conn)
            return conn.peer, True
        finally:
            await trio.aclose_forcefully(stream)

    def _register(self, conn: Connection) -> bool:
        existing = self._live.get(conn.peer)
        if existing is not None:
            if existing.dialer < conn.dialer:
                log.info(
                    "dropped %s: duplicate connection to %s, keeping the one dialed by %s",
                    conn.address,
                    _short(conn.peer),
                    _short(existing.dialer),
                )
                self._counts.duplicates_dropped += 1
                return False
            self._counts.duplicates_dropped += 1
            existing.close(f"replaced by a newer or preferred connection from {conn.address}")
            for payload in existing.take_pending():  # not yet sent: give them a second chance
                conn.offer(payload)
            del self._live[existing.peer]
            self._retire(existing)
        self._live[conn.peer] = conn
        log.info("connected to %s at %s", _short(conn.peer), conn.address)
        if self._on_connect is not None:
            self._on_connect(conn.peer)
        return True

    def _unregister(self, conn: Connection) -> None:
        conn.finished.set()
        level = logging.WARNING if conn.peer_misbehaved else logging.INFO
        log.log(level, "dropped %s (%s): %s", conn.address, _short(conn.peer), conn.reason)
        if self._live.get(conn.peer) is conn:
            del self._live[conn.peer]
            self._retire(conn)

    def _retire(self, conn: Connection) -> None:
        """Fold a connection's counters into the totals and tell the node it is gone."""
        counts, channel = self._counts, conn.channel
        counts.frames_in += channel.frames_received
        counts.frames_out += channel.frames_sent
        counts.bytes_in += channel.bytes_received
        counts.bytes_out += channel.bytes_sent
        counts.connections_dropped += 1
        if self._on_disconnect is not None:
            self._on_disconnect(conn.peer)

    async def _serve(self, conn: Connection) -> None:
        await conn.serve(
            self._inbound, keepalive_s=self._keepalive_s, idle_timeout_s=self._idle_timeout_s
        )


def _short(key: bytes) -> str:
    return key.hex()[:12]
