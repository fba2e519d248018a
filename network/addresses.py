"""Peer and listen addresses: parsing `host:port` strings once, at the edge.

Config files, the CLI and the peer manager all speak `PeerAddress`; only this module knows the
textual form. IPv6 literals are written in brackets (`[::1]:26656`).
"""

from __future__ import annotations

import attrs

PUBLIC_KEY_BYTES = 32
MAX_HOST_CHARS = 253


class AddressError(ValueError):
    """A `host:port` string that does not parse; the message says what is wrong."""


@attrs.frozen
class PeerAddress:
    """Where to dial a peer, and optionally the Ed25519 key we expect to find there."""

    host: str
    port: int
    public_key: bytes | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_host_port(text: str, *, allow_port_zero: bool = False) -> tuple[str, int]:
    """Split `host:port` (or `[v6]:port`) into its parts, validating both."""
    if not isinstance(text, str):
        raise AddressError(f"expected host:port, got {type(text).__name__}")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise AddressError(f"expected [host]:port, got {text!r}")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or ":" in host:
            raise AddressError(f"expected host:port, got {text!r}")
    if not host or len(host) > MAX_HOST_CHARS or any(c.isspace() for c in host):
        raise AddressError(f"bad host in {text!r}")
    if not port_text.isdigit() or not port_text.isascii():
        raise AddressError(f"bad port in {text!r}")
    port = int(port_text)
    if not (0 if allow_port_zero else 1) <= port <= 65535:
        raise AddressError(f"port {port} out of range in {text!r}")
    return host, port
