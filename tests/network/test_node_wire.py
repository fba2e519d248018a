"""Hostile bytes on a validator's peer port: each connection is dropped with one log line, and
the network keeps committing.

The tests talk raw TCP to validator 0 of the shared local network. For the attacks that need an
authenticated channel they impersonate validator 3, a Byzantine validator holding its real key:
validator 3's own process is stopped from the first of those tests to the end of the module
(three of four still commit) and then restarted. Each test pins its log line by the local port
of its own connection.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgpack
import pytest
import trio

from consensus.crypto import Ed25519Signer
from consensus.replica.block import block_id, decode_block
from consensus.replica.wire import CommittedBlock, GetBlocks, GetRound, decode_wire, encode_wire
from network.channel import SecureChannel
from network.handshake import HandshakeError, perform_handshake
from network.localnet import LocalNetwork
from tests.network.netcheck import NetProbe

SEED = 6_003
HOST = "127.0.0.1"
TARGET = 0  # the validator under attack
IMPERSONATED = 3  # the validator whose key the attacker holds
WAIT_S = 30.0


class Recorder(trio.abc.Stream):
    """A TCP stream that keeps a copy of every byte sent, for replays."""

    def __init__(self, inner: trio.SocketStream) -> None:
        self.inner = inner
        self.sent = bytearray()
        self.local_port: int = inner.socket.getsockname()[1]  # names us in the node's log

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        data: bytes = await self.inner.receive_some(max_bytes)
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="module")
def attacker_key(local_network: LocalNetwork) -> Iterator[Ed25519Signer]:
    """Validator 3's key, with validator 3's process stopped until the module ends."""
    local_network.stop(IMPERSONATED)
    try:
        yield local_network.layout.validator_keys[IMPERSONATED]
    finally:
        local_network.start(IMPERSONATED)


@pytest.fixture
async def probe(local_network: LocalNetwork) -> AsyncIterator[NetProbe]:
    async with NetProbe(local_network) as p:
        yield p


async def connect(net: LocalNetwork) -> Recorder:
    return Recorder(await trio.open_tcp_stream(HOST, net.layout.p2p_ports[TARGET]))


async def handshake(stream: Recorder, net: LocalNetwork, key: Ed25519Signer) -> SecureChannel:
    return await perform_handshake(
        stream,
        node_key=key,
        chain_id=net.genesis.chain_id,
        initiator=True,
        is_allowed=lambda k: True,
        expected_peer=net.layout.validator_keys[TARGET].public_key,
    )


async def until_closed(stream: Recorder) -> None:
    """Read (and ignore) until the validator hangs up on us."""
    with trio.fail_after(WAIT_S):
        try:
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass  # a reset is a hang-up too
    await stream.aclose()


async def drop_line(probe: NetProbe, since: int, port: int) -> str:
    """The one `dropped` line validator 0 logs for our connection from local `port`."""
    prefix = f"dropped {HOST}:{port}"
    found: list[str] = []

    async def logged() -> bool:
        found[:] = [
            r["msg"]
            for r in probe.log_records(TARGET, since=since)
            if r["msg"].startswith(prefix + ":") or r["msg"].startswith(prefix + " ")
        ]
        return bool(found)

    await probe.wait_until(logged, f"a '{prefix}' line", nodes=[TARGET], deadline_s=WAIT_S)
    if len(found) != 1:
        probe.fail(f"expected one drop line for port {port}, got {found}", [TARGET])
    return found[0]


async def still_committing(probe: NetProbe, since: int) -> None:
    """The running validators keep committing and validator 0 logged no error."""
    await probe.advance(2, [i for i in range(probe.net.size) if probe.net.is_running(i)])
    errors = [
        r for r in probe.log_records(TARGET, since=since) if r["level"] in ("error", "critical")
    ]
    if errors or not probe.net.is_running(TARGET):
        probe.fail(f"validator {TARGET} logged errors or died: {errors[:3]}", [TARGET])


async def test_unknown_key_is_refused(local_network: LocalNetwork, probe: NetProbe) -> None:
    stranger = Ed25519Signer(random.Random(SEED).randbytes(32))
    since = probe.log_size(TARGET)
    stream = await connect(local_network)
    with trio.fail_after(WAIT_S), pytest.raises(HandshakeError):
        await handshake(stream, local_network, stranger)
    line = await drop_line(probe, since, stream.local_port)
    assert "handshake failed" in line and stranger.public_key.hex() in line
    assert "not an allowed peer" in line
    status = await probe.status(TARGET)
    assert status is not None and stranger.public_key.hex() not in status["peers"]
    await still_committing(probe, since)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("random bytes", random.Random(SEED).randbytes(4096), "handshake failed"),
        ("a 4 GiB length prefix", b"\xff\xff\xff\xff" + b"\x00" * 64, "exceeds the"),
        ("a hello with a bad magic", b"\x00\x00\x00\x07NOTDPNT", "bad magic"),
    ],
    ids=["random-bytes", "oversized-length-prefix", "bad-magic"],
)
async def test_garbage_before_the_handshake_is_dropped(
    local_network: LocalNetwork, probe: NetProbe, name: str, data: bytes, reason: str
) -> None:
    since = probe.log_size(TARGET)
    stream = await connect(local_network)
    await stream.send_all(data)
    await until_closed(stream)
    line = await drop_line(probe, since, stream.local_port)
    assert "handshake failed" in line and reason in line, (name, line)
    await still_committing(probe, since)


async def receive_committed_block(channel: SecureChannel) -> CommittedBlock:
    """Read the validator's messages until a committed block arrives."""
    with trio.fail_after(WAIT_S):
        while True:
            payload = await channel.receive()
            assert payload is not None, "the validator hung up"
            if payload:
                msg = decode_wire(payload)
                if isinstance(msg, CommittedBlock):
                    return msg


async def test_malformed_messages_in_valid_frames_are_dropped(
    local_network: LocalNetwork, probe: NetProbe, attacker_key: Ed25519Signer
) -> None:
    malformed: list[Any] = [
        random.Random(SEED + 1).randbytes(200),
        msgpack.packb([99, 1, 2]),  # an unknown message kind
        msgpack.packb([5, "one", 1]),  # GetBlocks with a string height
        msgpack.packb([5, 1, 1]) + b"\x00",  # trailing bytes
    ]
    since = probe.log_size(TARGET)
    stream = await connect(local_network)
    channel = await handshake(stream, local_network, attacker_key)
    for payload in malformed:
        await channel.send(payload)
    # The same connection still serves a well-formed request afterwards.
    await channel.send(encode_wire(GetBlocks(start=1, count=1)))
    served = await receive_committed_block(channel)
    reference = await probe.block_id(TARGET, 1)
    assert block_id(decode_block(served.block, len(served.block)).header).hex() == reference
    await channel.aclose()

    key = attacker_key.public_key.hex()
    complaints = [
        r["msg"]
        for r in probe.log_records(TARGET, since=since)
        if r["msg"].startswith("peer misbehaved") and r.get("peer") == key
    ]
    assert len(complaints) == len(malformed), complaints
    assert all("undecodable message" in c for c in complaints), complaints
    await still_committing(probe, since)


async def test_oversized_frame_after_the_handshake_is_dropped(
    local_network: LocalNetwork, probe: NetProbe, attacker_key: Ed25519Signer
) -> None:
    since = probe.log_size(TARGET)
    stream = await connect(local_network)
    await handshake(stream, local_network, attacker_key)
    await stream.send_all(b"\x7f\xff\xff\xff")  # 2 GiB announced, nothing follows
    await until_closed(stream)
    line = await drop_line(probe, since, stream.local_port)
    assert "exceeds the" in line and attacker_key.public_key.hex()[:12] in line
    await still_committing(probe, since)


async def test_replayed_handshake_and_replayed_frame_are_dropped(
    local_network: LocalNetwork, probe: NetProbe, attacker_key: Ed25519Signer
) -> None:
    since = probe.log_size(TARGET)
    # A genuine session, recorded: the handshake, then one valid frame sent twice.
    original = await connect(local_network)
    channel = await handshake(original, local_network, attacker_key)
    recorded_handshake = bytes(original.sent)
    await channel.send(encode_wire(GetRound(height=1, round=0)))  # valid and harmless
    frame = bytes(original.sent[len(recorded_handshake) :])
    await original.inner.send_all(frame)  # the same sealed frame again
    await until_closed(original)
    line = await drop_line(probe, since, original.local_port)
    assert "failed authentication" in line, line

    # Replaying the recorded handshake on a new connection proves nothing: the validator's
    # fresh ephemeral key changes the transcript the old signature would have to cover.
    replay = await connect(local_network)
    await replay.send_all(recorded_handshake)
    await until_closed(replay)
    line = await drop_line(probe, since, replay.local_port)
    assert "handshake failed" in line and "does not verify" in line, line
    connected = [
        r["msg"]
        for r in probe.log_records(TARGET, since=since)
        if r["msg"].startswith("connected to") and r["msg"].endswith(f":{replay.local_port}")
    ]
    assert connected == []
    await still_committing(probe, since)
