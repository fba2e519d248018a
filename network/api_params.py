"""Client input in URLs and bodies, parsed into bytes and ints or refused with a clear 400.

`ApiError` carries an HTTP status, a stable code and a message; the app turns it into the
error shape `{"error": {"code", "message"}}`. Nothing here trusts its input's length or alphabet.
"""

from __future__ import annotations

import base64
import binascii

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
