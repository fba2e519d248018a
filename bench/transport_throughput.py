"""Peer transport throughput: payloads from one PeerManager to another over loopback TCP.

Two real `network.peers.PeerManager`s, wired as the node wires them (the node's transport
defaults from `network.config.TransportConfig`, an inbound channel of the node's size), listen
on 127.0.0.1 (ephemeral ports, never another address) with deterministic Ed25519 node keys; one
dials the other and both complete the real handshake before anything is timed. Each transfer
then queues N payloads of one size with `send_nowait`, as the node does, so they go through the
connection's bounded send queue, the batching writer (queued payloads sealed with
ChaCha20-Poly1305 and written together), length-prefixed framing, TCP, the reader's frame
parsing and decryption, and the inbound channel, where a consumer task (standing in for the
node's inbound pump) checks that every payload arrived from the right peer, intact and in order.

Both ends run in this one process on one trio loop (one thread), so the figures are for the
whole path, sender and receiver together, on one core:

  - messages/s and MB/s (payload bytes, 1 MB = 10**6 bytes): N over the wall time from the
    first payload queued to the last one checked on the receiving side;
  - CPU us/msg: process CPU time (`time.process_time()`: user + system, both sides and the
    kernel's loopback TCP work done in our syscalls) over the same span, divided by N.

Each size runs `--repeat` times over the same connection; the table shows the best run
(highest messages/s, and separately the lowest CPU per message); `--json` also records every
run. A transfer carries `--messages` payloads, fewer for large sizes if they would exceed
`--max-mb` of payload (default 100 MB: 500 blocks of 200 KB) so that a run stays short; the
table's messages column says how many. Payloads come from a pre-built ring of distinct payloads
(an 8-byte index and seeded random bytes, at most about 32 MB of them, payload i is ring entry
i mod its length, compared byte for byte on arrival), so building them is not timed and memory
stays bounded. The garbage collector keeps CPython's defaults (a validator tunes it with
`network.gctune`).

The sender keeps at most `send_queue_frames` payloads outstanding (queued but not yet checked
by the receiver): the per-peer queue can then never overflow, and a `send_nowait` refusal is an
error rather than a silent drop. A dropped connection, a wrong, reordered or missing payload,
or a transfer exceeding `--timeout` ends the run with an error and exit 1.

Run from the repository root:

    python bench/transport_throughput.py [--messages 5000] [--sizes 100,2000,20000,200000]
                                         [--repeat 3] [--max-mb 100] [--timeout 30]
                                         [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import trio

from consensus.crypto import Ed25519Signer
from network.addresses import PeerAddress
from network.config import TransportConfig
from network.peers import PeerManager

HOST = "127.0.0.1"
CHAIN = "depositnet-bench-transport"
INBOUND_QUEUE_FRAMES = 4096
"""The node's inbound channel size (`network.node.INBOUND_QUEUE_FRAMES`; not imported here
because `network.node` brings in the whole ledger and API stack)."""

DEFAULT_SIZES = (100, 2_000, 20_000, 200_000)  # a vote, a small message, a tx batch, a block
INDEX_BYTES = 8
RING_BUDGET_BYTES = 32 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
DEFAULT_MAX_MB = 100.0


class TransferError(Exception):
    """The transfer failed: connection lost, a payload wrong or missing, or too slow."""


@attrs.frozen
class Run:
    """One transfer of `messages` payloads: wall and process CPU seconds."""

    received: int  # payloads the receiver checked: right peer, intact, in order
    wall_s: float
    cpu_s: float
    wire_bytes: int  # what the sender wrote: payloads, tags, length prefixes (and keepalives)


@attrs.frozen
class SizeResult:
    """The figures for one payload size, best of its runs."""

    size: int
    messages: int
    runs: tuple[Run, ...]

    @property
    def received(self) -> int:
        """Payloads checked intact and in order, in the worst run (a complete run: `messages`)."""
        return min(run.received for run in self.runs)

    @property
    def best_wall_s(self) -> float:
        return min(run.wall_s for run in self.runs)

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.best_wall_s

    @property
    def mb_per_s(self) -> float:
        return self.messages_per_s * self.size / 1e6

    @property
    def cpu_us_per_message(self) -> float:
        return min(run.cpu_s for run in self.runs) / self.messages * 1e6

    @property
    def wire_bytes_per_message(self) -> float:
        return min(run.wire_bytes for run in self.runs) / self.messages

    def as_dict(self) -> dict[str, Any]:
        return {
            "size_bytes": self.size,
            "messages": self.messages,
            "received_in_order": self.received,
            "messages_per_s": self.messages_per_s,
            "mb_per_s": self.mb_per_s,
            "cpu_us_per_message": self.cpu_us_per_message,
            "best_wall_s": self.best_wall_s,
            "wire_bytes_per_message": self.wire_bytes_per_message,
            "runs": [attrs.asdict(run) for run in self.runs],
        }


@contextlib.contextmanager
def plain_errors() -> Iterator[None]:
    """Re-raise a nursery's group of ordinary errors as its first error, for a clear message."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        if not all(isinstance(leaf, Exception) for leaf in leaves):
            raise
        raise leaves[0] from group


def _leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def node_key(name: str) -> Ed25519Signer:
    return Ed25519Signer(hashlib.blake2b(name.encode(), digest_size=32).digest())


def payload_ring(size: int, messages: int, seed: int = 0) -> list[bytes]:
    """Distinct payloads of `size` bytes; payload i of a transfer is ring[i % len(ring)]."""
    if size < INDEX_BYTES:
        raise ValueError(f"payloads need at least {INDEX_BYTES} bytes, not {size}")
    count = max(1, min(messages, RING_BUDGET_BYTES // size))
    rng = random.Random(seed * 1_000_003 + size)
    return [
        i.to_bytes(INDEX_BYTES, "big") + rng.randbytes(size - INDEX_BYTES) for i in range(count)
    ]


class Progress:
    """How far the receiver got; lets the sender wait for room without polling."""

    def __init__(self) -> None:
        self.received = 0
        self._wanted = math.inf
        self._event = trio.Event()

    def advance(self) -> None:
        self.received += 1
        if self.received >= self._wanted:
            self._wanted = math.inf
            self._event.set()

    async def wait_for(self, received: int) -> None:
        if self.received >= received:
            return
        self._wanted = received
        self._event = trio.Event()
        await self._event.wait()


async def send_payloads(
    manager: PeerManager,
    peer: bytes,
    ring: Sequence[bytes],
    messages: int,
    window: int,
    progress: Progress,
) -> None:
    """Queue `messages` payloads for `peer`, never more than `window` outstanding."""
    sent = 0
    while sent < messages:
        for _ in range(min(window - (sent - progress.received), messages - sent)):
            if not manager.send_nowait(peer, ring[sent % len(ring)]):
                raise TransferError(f"send_nowait refused payload {sent} (queue full or no peer)")
            sent += 1
        if sent < messages:
            await progress.wait_for(sent - window // 2)


async def check_payloads(
    inbox: trio.MemoryReceiveChannel[tuple[bytes, bytes]],
    sender: bytes,
    ring: Sequence[bytes],
    messages: int,
    progress: Progress,
) -> None:
    """Receive `messages` payloads; each must come from `sender` and equal the expected one."""
    for index in range(messages):
        peer, payload = await inbox.receive()
        expected = ring[index % len(ring)]
        if peer != sender:
            raise TransferError(f"payload {index} came from {peer.hex()[:12]}, not the sender")
        if payload != expected:
            got = int.from_bytes(payload[:INDEX_BYTES], "big") if payload else None
            raise TransferError(
                f"payload {index} of {messages} is wrong: {len(payload)} bytes "
                f"(expected {len(expected)}), ring index {got} (expected {index % len(ring)})"
            )
        progress.advance()


class Pair:
    """Two connected PeerManagers: `sender` dials `receiver`; a lost connection is noticed."""

    def __init__(self) -> None:
        self.sender_key = node_key("bench-transport-sender")
        self.receiver_key = node_key("bench-transport-receiver")
        allowed = {self.sender_key.public_key, self.receiver_key.public_key}
        self._allowed = allowed
        self.options = TransportConfig().peer_manager_options()
        self._send_in, self._sender_inbox = trio.open_memory_channel[tuple[bytes, bytes]](
            INBOUND_QUEUE_FRAMES
        )
        self._receive_in, self.inbox = trio.open_memory_channel[tuple[bytes, bytes]](
            INBOUND_QUEUE_FRAMES
        )
        self.connected = trio.Event()
        self.lost = trio.Event()
        self.lost_reason = ""
        self._live = 0
        self.receiver = PeerManager(
            node_key=self.receiver_key,
            chain_id=CHAIN,
            listen_host=HOST,
            listen_port=0,
            peers=(),
            is_allowed=lambda key: key in allowed,
            inbound=self._receive_in,
            rng=random.Random(1),
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            **self.options,
        )
        self.sender: PeerManager | None = None

    @property
    def window(self) -> int:
        return int(self.options["send_queue_frames"])

    def _on_connect(self, peer: bytes) -> None:
        self._live += 1
        if self._live == 2:
            self.connected.set()

    def _on_disconnect(self, peer: bytes) -> None:
        self._live -= 1
        if not self.lost.is_set():
            self.lost_reason = f"connection to {peer.hex()[:12]} dropped"
            self.lost.set()

    async def start(self, nursery: trio.Nursery) -> None:
        port: int = await nursery.start(self.receiver.run)
        self.sender = PeerManager(
            node_key=self.sender_key,
            chain_id=CHAIN,
            listen_host=HOST,
            listen_port=0,
            peers=(PeerAddress(HOST, port, self.receiver_key.public_key),),
            is_allowed=lambda key: key in self._allowed,
            inbound=self._send_in,
            rng=random.Random(2),
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            **self.options,
        )
        await nursery.start(self.sender.run)
        with trio.move_on_after(CONNECT_TIMEOUT_S):
            await self.connected.wait()
        if not self.connected.is_set():
            raise TransferError(f"no handshake within {CONNECT_TIMEOUT_S:g} s on {HOST}:{port}")

    async def transfer(self, ring: Sequence[bytes], messages: int, timeout_s: float) -> Run:
        """Send `messages` payloads and check them all on the other side; timed."""
        assert self.sender is not None
        if self.lost.is_set():
            raise TransferError(self.lost_reason)
        peer = self.receiver_key.public_key
        before = self.sender.statistics()
        progress = Progress()

        async def watch_connection() -> None:
            await self.lost.wait()
            raise TransferError(f"{self.lost_reason} after {progress.received} of {messages}")

        with trio.move_on_after(timeout_s) as deadline, plain_errors():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch_connection)
                cpu = time.process_time()
                start = time.perf_counter()
                nursery.start_soon(
                    send_payloads, self.sender, peer, ring, messages, self.window, progress
                )
                await check_payloads(
                    self.inbox, self.sender_key.public_key, ring, messages, progress
                )
                wall_s = time.perf_counter() - start
                cpu_s = time.process_time() - cpu
                nursery.cancel_scope.cancel()
        if deadline.cancelled_caught:
            raise TransferError(
                f"timed out after {timeout_s:g} s: {progress.received} of {messages} payloads "
                f"of {len(ring[0])} bytes received"
            )
        after = self.sender.statistics()
        if after.send_drops != before.send_drops:
            raise TransferError(f"{after.send_drops - before.send_drops} payloads dropped")
        return Run(
            received=progress.received,
            wall_s=wall_s,
            cpu_s=cpu_s,
            wire_bytes=after.bytes_out - before.bytes_out,
        )


def messages_for(size: int, messages: int, max_bytes: int | None) -> int:
    """`messages`, or fewer (at least one) if they would carry more than `max_bytes`."""
    if max_bytes is None:
        return messages
    return max(1, min(messages, max_bytes // size))


async def measure(
    sizes: Sequence[int],
    messages: int,
    repeat: int = 3,
    timeout_s: float = 30.0,
    max_bytes: int | None = None,
) -> list[SizeResult]:
    """Run `repeat` transfers per size over one real connection.

    Each transfer carries `messages` payloads, or fewer for large sizes if `max_bytes` caps the
    payload bytes per transfer.
    """
    if messages < 1 or repeat < 1:
        raise ValueError("messages and repeat must be positive")
    pair = Pair()
    limit = pair.receiver.max_payload_bytes
    for size in sizes:
        if not INDEX_BYTES <= size <= limit:
            raise ValueError(f"payload size {size} outside {INDEX_BYTES}..{limit} bytes")
    results = []
    with plain_errors():
        async with trio.open_nursery() as nursery:
            await pair.start(nursery)
            for size in sizes:
                count = messages_for(size, messages, max_bytes)
                ring = payload_ring(size, count)
                runs = [await pair.transfer(ring, count, timeout_s) for _ in range(repeat)]
                results.append(SizeResult(size, count, tuple(runs)))
            nursery.cancel_scope.cancel()
    return results


def human_size(size: int) -> str:
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        if size >= scale and size % (scale // 10) == 0:
            return f"{size / scale:g} {unit}"
    return f"{size} B"


def table(results: Sequence[SizeResult]) -> str:
    lines = [
        f"{'size':>8} {'messages':>9} {'messages/s':>11} {'MB/s':>8} {'CPU us/msg':>11} "
        f"{'best wall s':>12}"
    ]
    for r in results:
        lines.append(
            f"{human_size(r.size):>8} {r.messages:>9,} {r.messages_per_s:>11,.0f} "
            f"{r.mb_per_s:>8.1f} {r.cpu_us_per_message:>11.1f} {r.best_wall_s:>12.3f}"
        )
    return "\n".join(lines)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated byte counts: {text!r}"
        ) from None
    if not sizes or any(size < INDEX_BYTES for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be at least {INDEX_BYTES} bytes: {text!r}")
    return sizes


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=positive, default=5000, help="payloads per transfer")
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated payload sizes in bytes (default 100,2000,20000,200000)",
    )
    parser.add_argument("--repeat", type=positive, default=3, help="transfers per size")
    parser.add_argument(
        "--max-mb",
        type=float,
        default=DEFAULT_MAX_MB,
        help="cap on the payload MB of one transfer: fewer messages for large sizes "
        f"(default {DEFAULT_MAX_MB:g}; 0 sends --messages whatever the size)",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per transfer")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    max_bytes = int(args.max_mb * 1e6) if args.max_mb > 0 else None
    options = TransportConfig().peer_manager_options()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"PeerManager -> PeerManager over TCP {HOST}, ChaCha20-Poly1305; both ends in one process "
        f"on one core (CPU is both sides together)\nup to {args.messages} messages per transfer"
        + (f" (at most {args.max_mb:g} MB)" if max_bytes else "")
        + f", best of {args.repeat}, send queue {options['send_queue_frames']} frames, "
        f"load average {load}"
    )
    try:
        results = trio.run(measure, args.sizes, args.messages, args.repeat, args.timeout, max_bytes)
    except (TransferError, ValueError, OSError) as exc:
        print(f"transport benchmark failed: {exc}", file=sys.stderr)
        return 1
    print(table(results))
    if args.json:
        document = {
            "benchmark": "transport_throughput",
            "transport": f"PeerManager to PeerManager over TCP {HOST}, ChaCha20-Poly1305",
            "cpu": "time.process_time() of the one process running both ends",
            "mb": "10**6 payload bytes",
            "messages": args.messages,
            "max_mb_per_transfer": args.max_mb if max_bytes else None,
            "repeat": args.repeat,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(),
            "transport_options": options,
            "results": [r.as_dict() for r in results],
        }
        with open(args.json, "w") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
