from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.crypto import Ed25519Signer
from network.channel import SecureChannel
from network.framing import FrameReader, encode_frame
from network.handshake import (
    HandshakeError,
    PeerRefused,
    decode_hello,
    encode_hello,
    perform_handshake,
)

ALICE = Ed25519Signer(b"\x01" * 32)
BOB = Ed25519Signer(b"\x02" * 32)
MALLORY = Ed25519Signer(b"\x03" * 32)
CHAIN = "depositnet-test"


def allow(*signers: Ed25519Signer) -> Callable[[bytes], bool]:
    keys = {s.public_key for s in signers}
    return lambda key: key in keys


class RecordingStream(trio.abc.Stream):
    """Passes everything through and keeps a copy of the bytes sent."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.sent = bytearray()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sent += data
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _pair(
    initiator: Ed25519Signer,
    responder: Ed25519Signer,
    *,
    initiator_allows: Callable[[bytes], bool] | None = None,
    responder_allows: Callable[[bytes], bool] | None = None,
    initiator_chain: str = CHAIN,
    responder_chain: str = CHAIN,
    expected_peer: bytes | None = None,
) -> tuple[SecureChannel | BaseException, SecureChannel | BaseException]:
    left, right = trio.testing.memory_stream_pair()
    results: dict[str, SecureChannel | BaseException] = {}

    async def side(name: str, stream: trio.abc.Stream, **kwargs: object) -> None:
        try:
            results[name] = await perform_handshake(stream, **kwargs)  # type: ignore[arg-type]
        except HandshakeError as exc:
            results[name] = exc
            await stream.aclose()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: side(
                    "i",
                    left,
                    node_key=initiator,
                    chain_id=initiator_chain,
                    initiator=True,
                    is_allowed=initiator_allows or allow(responder),
                    expected_peer=expected_peer,
                )
            )
            nursery.start_soon(
                lambda: side(
                    "r",
                    right,
                    node_key=responder,
                    chain_id=responder_chain,
                    initiator=False,
                    is_allowed=responder_allows or allow(initiator),
                )
            )
    return results["i"], results["r"]


async def test_handshake_learns_both_keys_and_opens_a_two_way_channel() -> None:
    a, b = await _pair(ALICE, BOB)
    assert isinstance(a, SecureChannel) and isinstance(b, SecureChannel)
    assert a.peer_public_key == BOB.public_key
    assert b.peer_public_key == ALICE.public_key
    await a.send(b"from alice")
    await b.send(b"from bob")
    assert await b.receive() == b"from alice"
    assert await a.receive() == b"from bob"


async def test_handshake_over_real_tcp_on_localhost() -> None:
    result: list[bytes] = []
    done = trio.Event()

    async def serve(stream: trio.SocketStream) -> None:
        channel = await perform_handshake(
            stream, node_key=BOB, chain_id=CHAIN, initiator=False, is_allowed=allow(ALICE)
        )
        result.append(await channel.receive() or b"")
        await channel.aclose()
        done.set()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, serve, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            channel = await perform_handshake(
                stream, node_key=ALICE, chain_id=CHAIN, initiator=True, is_allowed=allow(BOB)
            )
            await channel.send(b"over tcp")
            await done.wait()
            await channel.aclose()
            nursery.cancel_scope.cancel()
    assert result == [b"over tcp"]


async def test_unknown_key_is_refused_before_any_application_frame() -> None:
    a, b = await _pair(MALLORY, BOB, initiator_allows=allow(BOB), responder_allows=allow(ALICE))
    assert isinstance(b, PeerRefused)
    assert "not an allowed peer" in str(b)
    # The stranger never got a channel: the responder refused before signing anything.
    assert isinstance(a, HandshakeError)


async def test_wrong_chain_id_is_refused_by_both_sides() -> None:
    a, b = await _pair(ALICE, BOB, initiator_chain="other-chain")
    assert isinstance(a, PeerRefused) and "expected 'other-chain'" in str(a)
    assert isinstance(b, PeerRefused) and "expected 'depositnet-test'" in str(b)


async def test_connecting_to_ourselves_is_refused() -> None:
    a, b = await _pair(ALICE, ALICE, initiator_allows=allow(ALICE), responder_allows=allow(ALICE))
    assert isinstance(a, PeerRefused) and isinstance(b, PeerRefused)
    assert "our own key" in str(a)


async def test_dialing_a_known_key_but_reaching_another_is_refused() -> None:
    a, _ = await _pair(
        ALICE, MALLORY, initiator_allows=allow(BOB, MALLORY), expected_peer=BOB.public_key
    )
    assert isinstance(a, PeerRefused) and "dialed" in str(a)


async def test_replayed_initiator_handshake_is_rejected() -> None:
    # Session 1: record every byte the initiator sends.
    left, right = trio.testing.memory_stream_pair()
    recording = RecordingStream(left)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: perform_handshake(
                recording, node_key=ALICE, chain_id=CHAIN, initiator=True, is_allowed=allow(BOB)
            )
        )
        nursery.start_soon(
            lambda: perform_handshake(
                right, node_key=BOB, chain_id=CHAIN, initiator=False, is_allowed=allow(ALICE)
            )
        )
    recorded = bytes(recording.sent)
    assert len(recorded) > 64

    # Session 2: an attacker replays those bytes to a fresh responder.
    attacker, victim = trio.testing.memory_stream_pair()
    await attacker.send_all(recorded)
    with trio.fail_after(60), pytest.raises(HandshakeError, match="does not verify"):
        await perform_handshake(
            victim, node_key=BOB, chain_id=CHAIN, initiator=False, is_allowed=allow(ALICE)
        )


@settings(max_examples=60)
@given(st.binary(max_size=300))
def test_random_bytes_instead_of_a_handshake_fail_cleanly(junk: bytes) -> None:
    async def scenario() -> None:
        attacker, victim = trio.testing.memory_stream_pair()
        await attacker.send_all(junk)
        await attacker.aclose()
        with trio.fail_after(60), pytest.raises(HandshakeError):
            await perform_handshake(
                victim, node_key=BOB, chain_id=CHAIN, initiator=False, is_allowed=allow(ALICE)
            )

    trio.run(scenario)


async def test_oversized_hello_prefix_fails_without_waiting() -> None:
    attacker, victim = trio.testing.memory_stream_pair()
    await attacker.send_all(struct.pack(">I", 50_000_000))
    with trio.fail_after(60), pytest.raises(HandshakeError, match="exceeds"):
        await perform_handshake(
            victim, node_key=BOB, chain_id=CHAIN, initiator=False, is_allowed=allow(ALICE)
        )


async def test_wrong_protocol_version_is_refused() -> None:
    hello = bytearray(encode_hello(CHAIN, ALICE.public_key, b"\x09" * 32))
    hello[4:6] = struct.pack(">H", 99)
    attacker, victim = trio.testing.memory_stream_pair()
    await attacker.send_all(encode_frame(bytes(hello)))
    with trio.fail_after(60), pytest.raises(PeerRefused, match="protocol version 99"):
        await perform_handshake(
            victim, node_key=BOB, chain_id=CHAIN, initiator=False, is_allowed=allow(ALICE)
        )


async def test_low_order_ephemeral_key_is_rejected() -> None:
    attacker, victim = trio.testing.memory_stream_pair()
    await attacker.send_all(encode_frame(encode_hello(CHAIN, ALICE.public_key, bytes(32))))
    with trio.fail_after(60), pytest.raises(HandshakeError, match="low-order"):
        await perform_handshake(
            victim, node_key=BOB, chain_id=CHAIN, initiator=False, is_allowed=allow(ALICE)
        )


async def test_a_silent_peer_times_out(autojump_clock: trio.testing.MockClock) -> None:
    _silent, victim = trio.testing.memory_stream_pair()
    with pytest.raises(HandshakeError, match="not completed within 3 s"):
        await perform_handshake(
            victim,
            node_key=BOB,
            chain_id=CHAIN,
            initiator=False,
            is_allowed=allow(ALICE),
            timeout_s=3,
        )
    assert trio.current_time() == pytest.approx(3)


async def test_hello_decoding_checks_lengths() -> None:
    hello = encode_hello(CHAIN, ALICE.public_key, b"\x07" * 32)
    assert decode_hello(hello)[1:] == (CHAIN.encode(), ALICE.public_key, b"\x07" * 32)
    with pytest.raises(HandshakeError):
        decode_hello(hello + b"x")
    with pytest.raises(HandshakeError, match="magic"):
        decode_hello(b"XXXX" + hello[4:])
    with pytest.raises(ValueError):
        encode_hello("c" * 65, ALICE.public_key, b"\x07" * 32)
    reader_stream, _ = trio.testing.memory_stream_pair()
    assert FrameReader(reader_stream).max_frame_bytes > len(hello)
