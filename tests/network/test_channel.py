from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from network.channel import ChannelError, SecureChannel
from network.framing import FrameReader, encode_frame

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def _channel(stream: trio.abc.Stream, send_key: bytes, receive_key: bytes) -> SecureChannel:
    return SecureChannel(
        stream,
        FrameReader(stream),
        send_key=send_key,
        receive_key=receive_key,
        peer_public_key=b"p" * 32,
        max_frame_bytes=1024,
    )


async def _sealed_frames(payloads: list[bytes]) -> list[bytes]:
    """The raw frames a channel (sending with KEY_A) puts on the wire for `payloads`."""
    tap, sender_end = trio.testing.memory_stream_pair()
    sender = _channel(sender_end, KEY_A, KEY_B)
    for payload in payloads:
        await sender.send(payload)
    reader = FrameReader(tap)
    frames = []
    for _ in payloads:
        frame = await reader.receive_frame()
        assert frame is not None
        frames.append(frame)
    return frames


async def _receiver_fed(frames: list[bytes]) -> SecureChannel:
    feed, receiver_end = trio.testing.memory_stream_pair()
    for frame in frames:
        await feed.send_all(encode_frame(frame))
    return _channel(receiver_end, KEY_B, KEY_A)


@given(st.lists(st.binary(max_size=1008), max_size=6))
def test_payloads_round_trip_in_both_directions(payloads: list[bytes]) -> None:
    async def scenario() -> None:
        left, right = trio.testing.memory_stream_pair()
        a, b = _channel(left, KEY_A, KEY_B), _channel(right, KEY_B, KEY_A)
        for payload in payloads:
            await a.send(payload)
            await b.send(payload[::-1])
        for payload in payloads:
            assert await b.receive() == payload
            assert await a.receive() == payload[::-1]
        assert a.frames_sent == b.frames_received == len(payloads)
        assert a.bytes_sent == b.bytes_received

    trio.run(scenario)


async def test_ciphertext_differs_from_plaintext_and_between_frames() -> None:
    frames = await _sealed_frames([b"same payload", b"same payload"])
    assert b"same payload" not in frames[0]
    assert frames[0] != frames[1]


async def test_tampered_ciphertext_fails_authentication() -> None:
    (frame,) = await _sealed_frames([b"transfer 100"])
    tampered = bytes([frame[0] ^ 1]) + frame[1:]
    receiver = await _receiver_fed([tampered])
    with pytest.raises(ChannelError, match="failed authentication"):
        await receiver.receive()


async def test_replayed_frame_fails() -> None:
    (frame,) = await _sealed_frames([b"vote"])
    receiver = await _receiver_fed([frame, frame])
    assert await receiver.receive() == b"vote"
    with pytest.raises(ChannelError):
        await receiver.receive()


async def test_reordered_frames_fail() -> None:
    first, second = await _sealed_frames([b"one", b"two"])
    receiver = await _receiver_fed([second, first])
    with pytest.raises(ChannelError):
        await receiver.receive()


async def test_frame_reflected_to_its_sender_fails() -> None:
    (frame,) = await _sealed_frames([b"echo"])
    feed, end = trio.testing.memory_stream_pair()
    await feed.send_all(encode_frame(frame))
    sender_again = _channel(end, KEY_A, KEY_B)  # receives with KEY_B, frame sealed with KEY_A
    with pytest.raises(ChannelError):
        await sender_again.receive()


@pytest.mark.parametrize("junk", [b"", b"short", b"\x00" * 40], ids=["empty", "short", "zeros"])
async def test_junk_frames_fail(junk: bytes) -> None:
    receiver = await _receiver_fed([junk])
    with pytest.raises(ChannelError):
        await receiver.receive()


async def test_clean_close_returns_none() -> None:
    left, right = trio.testing.memory_stream_pair()
    a, b = _channel(left, KEY_A, KEY_B), _channel(right, KEY_B, KEY_A)
    await a.aclose()
    assert await b.receive() is None


async def test_oversized_payload_is_a_local_error() -> None:
    left, _ = trio.testing.memory_stream_pair()
    a = _channel(left, KEY_A, KEY_B)
    assert a.max_payload_bytes == 1024 - 16
    with pytest.raises(ValueError, match="exceeds"):
        await a.send(b"x" * (a.max_payload_bytes + 1))


def test_bad_keys_are_refused() -> None:
    left, _ = trio.testing.memory_stream_pair()
    with pytest.raises(ValueError):
        _channel(left, b"short", KEY_B)


async def test_send_many_writes_one_frame_per_payload() -> None:
    left, right = trio.testing.memory_stream_pair()
    a, b = _channel(left, KEY_A, KEY_B), _channel(right, KEY_B, KEY_A)
    await a.send_many([b"one", b"", b"three"])
    assert [await b.receive() for _ in range(3)] == [b"one", b"", b"three"]
    assert a.frames_sent == 3
    with pytest.raises(ValueError):
        await a.send_many([b"ok", b"x" * 2000])
    assert a.frames_sent == 3  # nothing of a refused batch was sent...
    await a.send(b"after")
    assert await b.receive() == b"after"  # ...and no nonce was skipped
