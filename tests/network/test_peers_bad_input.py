"""Hostile or broken peers against a PeerManager on 127.0.0.1: each is dropped with one log line
and the manager keeps serving its good peers."""

from __future__ import annotations

import logging
import random
import struct

import pytest
import trio

from consensus.crypto import Ed25519Signer
from network.addresses import PeerAddress
from network.backoff import Backoff
from network.channel import SecureChannel
from network.handshake import HandshakeError, perform_handshake
from tests.network.test_handshake import RecordingStream
from tests.network.test_peers import (
    CHAIN,
    HOST,
    KEYS,
    SIGNERS,
    STRANGER,
    Node,
    eventually,
    free_port,
    make_node,
)
from tests.network.test_peers import start as start_node

LOGGER = "network.peers"


async def dial(port: int, signer: Ed25519Signer) -> SecureChannel:
    stream = await trio.open_tcp_stream(HOST, port)
    return await perform_handshake(
        stream, node_key=signer, chain_id=CHAIN, initiator=True, is_allowed=lambda k: True
    )


async def raw(port: int, data: bytes) -> None:
    stream = await trio.open_tcp_stream(HOST, port)
    await stream.send_all(data)
    with trio.fail_after(60):  # the manager closes on us
        while await stream.receive_some():
            pass
    await stream.aclose()


async def still_serves(port: int, node: Node) -> None:
    """A good peer can still connect and deliver a payload."""
    good = await dial(port, SIGNERS[1])
    await good.send(b"still alive")
    assert await node.receive() == (KEYS[1], b"still alive")
    await good.aclose()


def drop_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("dropped")]


@pytest.fixture
def log_network(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=LOGGER)
    return caplog


async def test_unknown_key_is_refused_and_logged(log_network: pytest.LogCaptureFixture) -> None:
    node = make_node(0, 0, [])
    async with trio.open_nursery() as nursery:
        port = await start_node(nursery, node)
        with trio.fail_after(60), pytest.raises(HandshakeError):
            await dial(port, STRANGER)
        await eventually(lambda: node.manager.statistics().handshake_failures == 1)
        (line,) = drop_lines(log_network)
        assert "127.0.0.1:" in line and "not an allowed peer" in line
        assert node.manager.connected_peers() == ()
        await still_serves(port, node)
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "junk",
    [
        random.Random(1).randbytes(200),
        struct.pack(">I", 2**31) + b"\x00" * 16,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["random-bytes", "oversized-prefix", "http"],
)
async def test_junk_instead_of_a_handshake_is_dropped(
    junk: bytes, log_network: pytest.LogCaptureFixture
) -> None:
    node = make_node(0, 0, [])
    async with trio.open_nursery() as nursery:
        port = await start_node(nursery, node)
        await raw(port, junk)
        await eventually(lambda: node.manager.statistics().handshake_failures == 1)
        (line,) = drop_lines(log_network)
        assert "handshake failed" in line
        await still_serves(port, node)
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("junk", "reason"),
    [
        (random.Random(2).randbytes(300), "exceeds"),  # random prefix is almost surely huge
        (struct.pack(">I", 40) + random.Random(3).randbytes(40), "failed authentication"),
        (struct.pack(">I", 2**32 - 1), "exceeds"),
    ],
    ids=["random-bytes", "forged-frame", "oversized-prefix"],
)
async def test_junk_after_the_handshake_drops_the_connection(
    junk: bytes, reason: str, log_network: pytest.LogCaptureFixture
) -> None:
    node = make_node(0, 0, [])
    async with trio.open_nursery() as nursery:
        port = await start_node(nursery, node)
        channel = await dial(port, SIGNERS[1])
        await channel.send(b"legit")
        assert await node.receive() == (KEYS[1], b"legit")
        await channel._stream.send_all(junk)
        await eventually(lambda: node.manager.connected_peers() == ())
        (line,) = drop_lines(log_network)
        assert reason in line and KEYS[1].hex()[:12] in line
        assert [r.levelno for r in log_network.records if "dropped" in r.getMessage()] == [
            logging.WARNING
        ]
        await still_serves(port, node)
        nursery.cancel_scope.cancel()


async def test_replayed_handshake_is_refused_by_the_manager(
    log_network: pytest.LogCaptureFixture,
) -> None:
    node = make_node(0, 0, [])
    async with trio.open_nursery() as nursery:
        port = await start_node(nursery, node)
        stream = await trio.open_tcp_stream(HOST, port)
        recording = RecordingStream(stream)
        channel = await perform_handshake(
            recording, node_key=SIGNERS[1], chain_id=CHAIN, initiator=True, is_allowed=bool
        )
        await channel.send(b"original session")
        assert await node.receive() == (KEYS[1], b"original session")
        await channel.aclose()
        await eventually(lambda: node.manager.connected_peers() == ())

        await raw(port, bytes(recording.sent))  # hello, signature and the sealed frame again
        await eventually(lambda: node.manager.statistics().handshake_failures == 1)
        assert any("does not verify" in line for line in drop_lines(log_network))
        assert node.manager.statistics().frames_in == 1  # the replayed frame was never read
        nursery.cancel_scope.cancel()


async def test_silent_peer_is_dropped_and_keepalives_flow(
    log_network: pytest.LogCaptureFixture,
) -> None:
    node = make_node(0, 0, [], keepalive_s=0.05, idle_timeout_s=0.5)
    async with trio.open_nursery() as nursery:
        port = await start_node(nursery, node)
        channel = await dial(port, SIGNERS[1])
        with trio.fail_after(60):
            assert await channel.receive() == b""  # a keepalive from the idle manager
        await eventually(lambda: node.manager.connected_peers() == ())
        assert any("silent for 0.5 s" in line for line in drop_lines(log_network))
        nursery.cancel_scope.cancel()


async def test_send_nowait_drops_when_not_connected_or_queue_full() -> None:
    node = make_node(0, 0, [], send_queue_frames=1)
    async with trio.open_nursery() as nursery:
        port = await start_node(nursery, node)
        assert node.manager.send_nowait(KEYS[1], b"nobody there") is False
        channel = await dial(port, SIGNERS[1])
        await eventually(lambda: node.manager.connected_peers() == (KEYS[1],))
        # No checkpoint between these calls: the queue holds one, plus one handed straight to
        # the writer if it is already waiting. The rest are dropped and counted.
        sent = [node.manager.send_nowait(KEYS[1], bytes([i + 1])) for i in range(5)]
        assert sent[0] is True and sent[-1] is False and sum(sent) <= 2
        assert node.manager.statistics().send_drops == 1 + 5 - sum(sent)
        with trio.fail_after(60):
            while (payload := await channel.receive()) == b"":
                pass
        assert payload == b"\x01"
        with pytest.raises(ValueError, match="reserved"):
            node.manager.send_nowait(KEYS[1], b"")
        with pytest.raises(ValueError, match="over"):
            node.manager.broadcast_nowait(b"x" * (node.manager.max_payload_bytes + 1))
        nursery.cancel_scope.cancel()


async def test_disconnect_drops_and_the_peer_is_redialed() -> None:
    first = make_node(1, 0, [])
    async with trio.open_nursery() as nursery:
        port = await start_node(nursery, first)
        second = make_node(0, 0, [PeerAddress(HOST, port, KEYS[1])])
        await start_node(nursery, second)
        await eventually(lambda: first.manager.connected_peers() == (KEYS[0],))
        first.manager.disconnect(KEYS[0], "misbehaved in a test")
        await eventually(lambda: ("disconnect", KEYS[0]) in first.events)
        await eventually(lambda: first.manager.connected_peers() == (KEYS[0],))
        await eventually(lambda: second.manager.connected_peers() == (KEYS[1],))
        assert ("disconnect", KEYS[1]) in second.events  # the dialer noticed, then redialed
        second.manager.broadcast_nowait(b"back")
        assert await first.receive() == (KEYS[0], b"back")
        nursery.cancel_scope.cancel()


def test_backoff_doubles_to_the_cap_with_seeded_jitter() -> None:
    backoff = Backoff(random.Random(5), base_s=0.1, cap_s=1.0)
    ceilings = []
    for _ in range(8):
        ceiling = backoff.ceiling_s()
        delay = backoff.next_delay_s()
        assert ceiling / 2 <= delay <= ceiling
        ceilings.append(ceiling)
    assert ceilings == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    replay = Backoff(random.Random(5), base_s=0.1, cap_s=1.0)
    other = Backoff(random.Random(6), base_s=0.1, cap_s=1.0)
    first = [replay.next_delay_s() for _ in range(3)]
    assert first[0] == Backoff(random.Random(5), base_s=0.1, cap_s=1.0).next_delay_s()
    assert first != [other.next_delay_s() for _ in range(3)]
    backoff.reset()
    assert backoff.ceiling_s() == 0.1
    with pytest.raises(ValueError):
        Backoff(random.Random(0), base_s=2.0, cap_s=1.0)


async def test_an_absent_peer_is_logged_once_and_connected_when_it_appears(
    log_network: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    dialer = make_node(0, 0, [PeerAddress(HOST, port, KEYS[1])])
    async with trio.open_nursery() as nursery:
        await start_node(nursery, dialer)
        await eventually(
            lambda: (
                sum("dial" in r.getMessage() for r in log_network.records) >= 1
                and dialer.manager.statistics().handshakes_in_progress == 0
            )
        )
        late = make_node(1, port, [])
        await start_node(nursery, late)
        await eventually(lambda: dialer.manager.connected_peers() == (KEYS[1],))
        info_dial_lines = [
            r for r in log_network.records if "dial" in r.getMessage() and r.levelno >= logging.INFO
        ]
        assert len(info_dial_lines) == 1 and f"{HOST}:{port}" in info_dial_lines[0].getMessage()
        nursery.cancel_scope.cancel()
