"""Client input in URLs and bodies, parsed into bytes and ints or refused with a clear 400.

`ApiError` carries an HTTP status, a stable code and a message; the app turns it into the
error shape `{"error": {"code", "message"}}`. Nothing here trusts its input's length or alphabet.
"""

from __future__ import annotations

import base64
import binascii

import msgpack

from network.api_models import MAX_BATCH_TXS, MSGPACK

MAX_HEIGHT = (1 << 63) - 1


class ApiError(Exception):
    """An error answer: HTTP status, stable code, message (and optional headers)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def parse_hex(text: str, size: int, what: str) -> bytes:
    """`size` bytes from hex, else a 400 naming `what`."""
    if len(text) != 2 * size or not text.isascii():
        raise ApiError(400, "BAD_REQUEST", f"{what} must be {2 * size} hex characters")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ApiError(400, "BAD_REQUEST", f"{what} is not hex") from None


def parse_height(text: str) -> int:
    """A block height from a URL segment (0 .. 2**63 - 1)."""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_HEIGHT:
        raise ApiError(400, "BAD_REQUEST", "height must be a non-negative integer (or 'latest')")
    return int(text)


def decode_tx_text(tx: str, encoding: str) -> bytes:
    """The transaction bytes a client sent as hex or base64 text."""
    try:
        if encoding == "base64":
            data = base64.b64decode(tx.encode("ascii"), validate=True)
        else:
            if not tx.isascii():
                raise ValueError("not ascii")
            data = bytes.fromhex(tx)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise ApiError(400, "BAD_REQUEST", f"tx is not valid {encoding}") from None
    if not data:
        raise ApiError(400, "BAD_REQUEST", "tx is empty")
    return data


_MSGPACK_TYPES = frozenset({MSGPACK, "application/x-msgpack"})


def is_msgpack(content_type: str | None) -> bool:
    """Does this Content-Type header name msgpack (parameters and case ignored)?"""
    if content_type is None:
        return False
    return content_type.split(";", 1)[0].strip().lower() in _MSGPACK_TYPES


def decode_msgpack_batch(body: bytes) -> list[bytes]:
    """The transactions of a msgpack `POST /txs/batch` body: exactly one msgpack array of
    1..MAX_BATCH_TXS non-empty bin, nothing after it; anything else is a 400 saying what."""

    def bad(message: str) -> ApiError:
        return ApiError(400, "BAD_REQUEST", message)

    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=max(len(body), 1))
    unpacker.feed(body)
    try:
        count = unpacker.read_array_header()
    except msgpack.OutOfData:
        raise bad("body: empty or truncated msgpack") from None
    except ValueError:
        raise bad("body: expected a msgpack array of bin (raw signed transactions)") from None
    if not 1 <= count <= MAX_BATCH_TXS:
        raise bad(f"body: a batch holds 1 to {MAX_BATCH_TXS} transactions, not {count}")
    txs = []
    for i in range(count):
        try:
            tx = unpacker.unpack()
        except msgpack.OutOfData:
            raise bad(f"body: truncated msgpack at transaction {i}") from None
        except ValueError as exc:  # FormatError, StackError, bad map keys, bad ext data...
            why = str(exc) or type(exc).__name__
            raise bad(f"body: malformed msgpack at transaction {i}: {why}") from None
        if type(tx) is not bytes:
            raise bad(f"txs.{i}: expected bin (raw transaction bytes), got {type(tx).__name__}")
        if not tx:
            raise bad(f"txs.{i}: tx is empty")
        txs.append(tx)
    if unpacker.tell() != len(body):
        raise bad("body: trailing bytes after the msgpack array")
    return txs
