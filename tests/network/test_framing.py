from __future__ import annotations

import struct

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from network.framing import FrameError, FrameReader, encode_frame, send_frame


async def _send_in_pieces(stream: trio.abc.SendStream, data: bytes, cuts: list[int]) -> None:
    start = 0
    for cut in [*sorted({c % (len(data) + 1) for c in cuts}), len(data)]:
        if cut > start:
            await stream.send_all(data[start:cut])
            start = cut
    await stream.aclose()


@given(
    payloads=st.lists(st.binary(max_size=3000), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=10),
)
def test_frames_round_trip_whatever_the_chunking(payloads: list[bytes], cuts: list[int]) -> None:
    async def scenario() -> list[bytes]:
        left, right = trio.testing.memory_stream_pair()
        wire = b"".join(encode_frame(p) for p in payloads)
        received: list[bytes] = []
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_send_in_pieces, left, wire, cuts)
                reader = FrameReader(right)
                while (frame := await reader.receive_frame()) is not None:
                    received.append(frame)
        return received

    assert trio.run(scenario) == payloads


async def test_send_frame_and_receive_frame_over_a_stream() -> None:
    left, right = trio.testing.memory_stream_pair()
    await send_frame(left, b"hello")
    await send_frame(left, b"")
    reader = FrameReader(right)
    assert await reader.receive_frame() == b"hello"
    assert await reader.receive_frame() == b""


async def test_oversized_length_prefix_is_refused_without_reading_the_body() -> None:
    left, right = trio.testing.memory_stream_pair()
    # Announce 4 GiB - 1 and send nothing more: the reader must refuse at once, not wait.
    await left.send_all(struct.pack(">I", 2**32 - 1))
    reader = FrameReader(right, max_frame_bytes=1024)
    with trio.fail_after(5), pytest.raises(FrameError, match="exceeds the 1024 limit"):
        await reader.receive_frame()
    assert reader.bytes_received == 4


async def test_per_call_limit_tightens_the_maximum() -> None:
    left, right = trio.testing.memory_stream_pair()
    await send_frame(left, b"x" * 100)
    reader = FrameReader(right, max_frame_bytes=1024)
    with pytest.raises(FrameError):
        await reader.receive_frame(max_bytes=99)


async def test_frame_exactly_at_the_limit_is_accepted() -> None:
    left, right = trio.testing.memory_stream_pair()
    await send_frame(left, b"y" * 64, max_frame_bytes=64)
    assert await FrameReader(right, max_frame_bytes=64).receive_frame() == b"y" * 64


@pytest.mark.parametrize(
    "wire",
    [b"", b"\x00\x00", struct.pack(">I", 10) + b"abc"],
    ids=["at-boundary", "mid-prefix", "mid-body"],
)
async def test_end_of_stream_is_a_clean_close(wire: bytes) -> None:
    left, right = trio.testing.memory_stream_pair()
    await left.send_all(wire)
    await left.aclose()
    reader = FrameReader(right)
    assert await reader.receive_frame() is None
    assert await reader.receive_frame() is None


def test_encoding_an_oversized_payload_is_a_local_error() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode_frame(b"z" * 11, max_frame_bytes=10)


def test_limit_must_fit_the_prefix() -> None:
    left, _ = trio.testing.memory_stream_pair()
    with pytest.raises(ValueError):
        FrameReader(left, max_frame_bytes=2**32)
