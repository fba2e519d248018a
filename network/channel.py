"""The encrypted, authenticated channel a completed handshake hands back.

Every payload is sealed with ChaCha20-Poly1305 (the `cryptography` package) under a key for
its direction, with a 96-bit nonce made of four zero bytes and a 64-bit big-endian counter of
the frames sent so far in that direction. The receiver expects exactly the next counter value,
so a frame that was tampered with, replayed, reordered, dropped or reflected back at its sender
fails authentication. Any such failure is the peer's fault and ends the connection
(`ChannelError`); there is no resynchronisation.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import trio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from network.framing import LENGTH_PREFIX_BYTES, MAX_FRAME_BYTES, FrameReader, encode_frame

KEY_BYTES = 32
TAG_BYTES = 16
MAX_COUNTER = 2**64 - 1

_NONCE = struct.Struct(">4xQ")


class ChannelError(Exception):
    """A frame failed authentication, or the channel can no longer be used."""


def nonce(counter: int) -> bytes:
    """The 12-byte nonce for the `counter`-th frame of one direction."""
    return _NONCE.pack(counter)


class SecureChannel:
    """Sealed frames to and from one authenticated peer over a trio stream.

    One task may send while another receives; two concurrent senders (or receivers) are a
    misuse that trio reports as `BusyResourceError`.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        reader: FrameReader,
        *,
        send_key: bytes,
        receive_key: bytes,
        peer_public_key: bytes,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        if len(send_key) != KEY_BYTES or len(receive_key) != KEY_BYTES:
            raise ValueError("channel keys are 32 bytes")
        if max_frame_bytes <= TAG_BYTES:
            raise ValueError("max_frame_bytes must leave room for the authentication tag")
        self._stream = stream
        self._reader = reader
        self._reader.max_frame_bytes = max_frame_bytes
        self._send_aead = ChaCha20Poly1305(send_key)
        self._receive_aead = ChaCha20Poly1305(receive_key)
        self._send_counter = 0
        self._receive_counter = 0
        self._max_frame_bytes = max_frame_bytes
        self.peer_public_key = peer_public_key
        self.frames_sent = 0
        self.frames_received = 0
        self.bytes_sent = 0
        self.bytes_received = 0

    @property
    def max_payload_bytes(self) -> int:
        """The largest payload that fits one frame once sealed."""
        return self._max_frame_bytes - TAG_BYTES

    async def send(self, payload: bytes) -> None:
        """Seal and send one payload. ValueError if it is larger than `max_payload_bytes`."""
        await self.send_many((payload,))

    async def send_many(self, payloads: Sequence[bytes]) -> None:
        """Seal each payload as its own frame and write them all with one `send_all`."""
        for payload in payloads:  # check all first: a refused batch must not consume nonces
            if len(payload) > self.max_payload_bytes:
                raise ValueError(
                    f"payload of {len(payload)} bytes exceeds the {self.max_payload_bytes} limit"
                )
        if self._send_counter + len(payloads) > MAX_COUNTER:
            raise ChannelError("send nonce space exhausted")
        frames = []
        for payload in payloads:
            sealed = self._send_aead.encrypt(nonce(self._send_counter), payload, None)
            self._send_counter += 1
            frames.append(encode_frame(sealed, self._max_frame_bytes))
        data = b"".join(frames)
        await self._stream.send_all(data)
        self.frames_sent += len(frames)
        self.bytes_sent += len(data)

    async def receive(self) -> bytes | None:
        """The next payload, or None when the peer closed the stream.

        Raises `ChannelError` if the frame does not authenticate, and `FrameError` if its
        announced length is over the limit.
        """
        sealed = await self._reader.receive_frame()
        if sealed is None:
            return None
        if self._receive_counter > MAX_COUNTER:
            raise ChannelError("receive nonce space exhausted")
        try:
            payload = self._receive_aead.decrypt(nonce(self._receive_counter), sealed, None)
        except InvalidTag:
            raise ChannelError(
                f"frame {self._receive_counter} failed authentication "
                "(tampered, replayed or out of order)"
            ) from None
        self._receive_counter += 1
        self.frames_received += 1
        self.bytes_received += LENGTH_PREFIX_BYTES + len(sealed)
        return payload

    async def aclose(self) -> None:
        """Close the underlying stream."""
        await self._stream.aclose()
