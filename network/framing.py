"""Length-prefixed frames over a byte stream, with a hard maximum size.

A frame is a 4-byte big-endian length followed by that many bytes. The length is checked
against a limit *before* anything is read or allocated for the body, so a peer announcing a
4 GiB frame costs us four bytes, not four gigabytes. End of stream at a frame boundary, or in
the middle of one, is a clean close (`None`), never an exception: a peer hanging up is normal.

This layer knows nothing about encryption; `network.channel` seals payloads before they are
framed here, and `network.handshake` sends its few plaintext frames through the same reader.
"""

from __future__ import annotations

import struct

import trio

LENGTH_PREFIX_BYTES = 4
MAX_FRAME_BYTES = 4 * 1024 * 1024
"""Default hard maximum for one frame's body (4 MiB); configurable per connection."""

RECEIVE_CHUNK_BYTES = 64 * 1024

_LENGTH = struct.Struct(">I")


class FrameError(Exception):
    """The peer sent a frame we refuse (its length is over the limit)."""


def encode_frame(payload: bytes, max_frame_bytes: int = MAX_FRAME_BYTES) -> bytes:
    """Return the length prefix followed by `payload`; ValueError if it is over the limit."""
    if len(payload) > max_frame_bytes:
        raise ValueError(f"frame of {len(payload)} bytes exceeds the {max_frame_bytes} limit")
    return _LENGTH.pack(len(payload)) + payload


async def send_frame(
    stream: trio.abc.SendStream, payload: bytes, max_frame_bytes: int = MAX_FRAME_BYTES
) -> None:
    """Write one frame to `stream`."""
    await stream.send_all(encode_frame(payload, max_frame_bytes))


class FrameReader:
    """Reads whole frames from a receive stream, keeping any bytes that arrive early."""

    def __init__(
        self, stream: trio.abc.ReceiveStream, max_frame_bytes: int = MAX_FRAME_BYTES
    ) -> None:
        if max_frame_bytes < 0 or max_frame_bytes >= 2**32:
            raise ValueError("max_frame_bytes must fit the 4-byte length prefix")
        self._stream = stream
        self._buffer = bytearray()
        self._eof = False
        self.max_frame_bytes = max_frame_bytes
        self.bytes_received = 0

    async def receive_frame(self, max_bytes: int | None = None) -> bytes | None:
        """Return the next frame's body, or None once the stream has ended.

        `max_bytes` tightens the limit for this one frame (the handshake uses it). Raises
        `FrameError` if the announced length is over the limit; nothing of the body is read.
        """
        limit = self.max_frame_bytes if max_bytes is None else min(max_bytes, self.max_frame_bytes)
        if not await self._fill(LENGTH_PREFIX_BYTES):
            return None
        (length,) = _LENGTH.unpack_from(self._buffer)
        if length > limit:
            raise FrameError(f"announced frame of {length} bytes exceeds the {limit} limit")
        if not await self._fill(LENGTH_PREFIX_BYTES + length):
            return None
        body = bytes(self._buffer[LENGTH_PREFIX_BYTES : LENGTH_PREFIX_BYTES + length])
        del self._buffer[: LENGTH_PREFIX_BYTES + length]
        return body

    async def _fill(self, size: int) -> bool:
        """Buffer at least `size` bytes; False if the stream ends first."""
        while len(self._buffer) < size:
            if self._eof:
                return False
            # At most one chunk past the frame in hand is ever buffered: memory stays bounded.
            chunk = await self._stream.receive_some(RECEIVE_CHUNK_BYTES)
            if not chunk:
                self._eof = True
                return False
            self.bytes_received += len(chunk)
            self._buffer += chunk
        return True
