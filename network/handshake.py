"""The handshake: both ends prove their Ed25519 node key and agree on session keys.

Theory of operation. The two sides run the same steps; only the transcript order and a role
byte depend on who dialed (the initiator):

1. Each sends a *hello* frame: magic, protocol version, chain id, its static Ed25519 public key
   and a fresh ephemeral X25519 public key.
2. Each reads the peer's hello and refuses, before signing anything, a wrong magic, version or
   chain id, its own key (a connection to itself), a key other than the one it dialed, or a key
   for which `is_allowed(key)` is false.
3. Both compute the transcript hash, SHA-256 over a domain tag and the two hellos in canonical
   order (initiator first), each length-prefixed. Each sends an Ed25519 signature over another
   tag, its role byte and that hash, and verifies the peer's signature for the other role.
4. Session keys come from HKDF-SHA256 over the X25519 shared secret, salted with the transcript
   hash: the first 32 bytes seal initiator-to-responder frames, the next 32 the other way.

Because the transcript holds both ephemeral keys, a recorded handshake replayed later fails at
step 3: the victim's new ephemeral key changes the hash the old signature would have to cover.
Every handshake frame has a small hard size limit and the whole exchange a time limit. Any
failure raises `HandshakeError` (`PeerRefused` for a policy refusal); nothing is returned
until the peer is proven and allowed, so no application frame is ever read from a stranger.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

import trio
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from consensus.crypto import ED25519, Signer
from network.channel import SecureChannel
from network.framing import MAX_FRAME_BYTES, FrameError, FrameReader, send_frame

MAGIC = b"DPNT"
PROTOCOL_VERSION = 1
MAX_CHAIN_ID_BYTES = 64
KEY_BYTES = 32
SIGNATURE_BYTES = 64
MAX_HELLO_BYTES = len(MAGIC) + 2 + 1 + MAX_CHAIN_ID_BYTES + 2 * KEY_BYTES
DEFAULT_HANDSHAKE_TIMEOUT_S = 5.0

TRANSCRIPT_TAG = b"depositnet/handshake/v1/transcript"
AUTH_TAG = b"depositnet/handshake/v1/auth"
KEYS_TAG = b"depositnet/handshake/v1/session-keys"
INITIATOR_ROLE = b"I"
RESPONDER_ROLE = b"R"

_HEAD = struct.Struct(">4sHB")


class HandshakeError(Exception):
    """The handshake failed: the peer misbehaved, went silent, or hung up."""


class PeerRefused(HandshakeError):
    """The peer is well-formed but not welcome: unknown key, wrong chain, wrong version, self."""


def encode_hello(chain_id: str, static_key: bytes, ephemeral_key: bytes) -> bytes:
    """The hello frame body."""
    chain = chain_id.encode()
    if not 0 < len(chain) <= MAX_CHAIN_ID_BYTES:
        raise ValueError(f"chain id must be 1..{MAX_CHAIN_ID_BYTES} bytes of UTF-8")
    if len(static_key) != KEY_BYTES or len(ephemeral_key) != KEY_BYTES:
        raise ValueError("hello keys are 32 bytes")
    return _HEAD.pack(MAGIC, PROTOCOL_VERSION, len(chain)) + chain + static_key + ephemeral_key


def decode_hello(data: bytes) -> tuple[int, bytes, bytes, bytes]:
    """Parse a hello into (version, chain id bytes, static key, ephemeral key) or raise."""
    if len(data) < _HEAD.size:
        raise HandshakeError("hello too short")
    magic, version, chain_len = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise HandshakeError("not a depositnet hello (bad magic)")
    if version != PROTOCOL_VERSION:
        raise PeerRefused(f"protocol version {version}, expected {PROTOCOL_VERSION}")
    if len(data) != _HEAD.size + chain_len + 2 * KEY_BYTES:
        raise HandshakeError(f"hello of {len(data)} bytes does not match its chain id length")
    chain = data[_HEAD.size : _HEAD.size + chain_len]
    keys = data[_HEAD.size + chain_len :]
    return version, chain, keys[:KEY_BYTES], keys[KEY_BYTES:]


def transcript_hash(initiator_hello: bytes, responder_hello: bytes) -> bytes:
    """SHA-256 binding both hellos in canonical (initiator, responder) order."""
    digest = hashlib.sha256(TRANSCRIPT_TAG)
    for hello in (initiator_hello, responder_hello):
        digest.update(struct.pack(">I", len(hello)))
        digest.update(hello)
    return digest.digest()


def auth_message(role: bytes, transcript: bytes) -> bytes:
    """What a side signs to prove its static key for this one handshake."""
    return AUTH_TAG + role + transcript


def session_keys(shared_secret: bytes, transcript: bytes) -> tuple[bytes, bytes]:
    """(initiator-to-responder key, responder-to-initiator key)."""
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=transcript, info=KEYS_TAG).derive(
        shared_secret
    )
    return okm[:32], okm[32:]


async def perform_handshake(
    stream: trio.abc.Stream,
    *,
    node_key: Signer,
    chain_id: str,
    initiator: bool,
    is_allowed: Callable[[bytes], bool],
    expected_peer: bytes | None = None,
    timeout_s: float = DEFAULT_HANDSHAKE_TIMEOUT_S,
    max_frame_bytes: int = MAX_FRAME_BYTES,
) -> SecureChannel:
    """Run the handshake on `stream` and return the channel to a proven, allowed peer.

    Raises `HandshakeError` (or `PeerRefused`) on any failure, including the peer taking more
    than `timeout_s`; the caller closes the stream.
    """
    with trio.move_on_after(timeout_s) as scope:
        try:
            return await _run(
                stream,
                node_key=node_key,
                chain_id=chain_id,
                initiator=initiator,
                is_allowed=is_allowed,
                expected_peer=expected_peer,
                max_frame_bytes=max_frame_bytes,
            )
        except FrameError as exc:
            raise HandshakeError(str(exc)) from None
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            raise HandshakeError(f"connection lost during handshake ({exc!r})") from None
    assert scope.cancelled_caught
    raise HandshakeError(f"handshake not completed within {timeout_s:g} s")


async def _run(
    stream: trio.abc.Stream,
    *,
    node_key: Signer,
    chain_id: str,
    initiator: bool,
    is_allowed: Callable[[bytes], bool],
    expected_peer: bytes | None,
    max_frame_bytes: int,
) -> SecureChannel:
    reader = FrameReader(stream, max_frame_bytes)
    ephemeral = X25519PrivateKey.generate()
    own_hello = encode_hello(
        chain_id,
        node_key.public_key,
        ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    )
    await send_frame(stream, own_hello)

    peer_hello = await reader.receive_frame(MAX_HELLO_BYTES)
    if peer_hello is None:
        raise HandshakeError("connection closed before the peer's hello")
    _, peer_chain, peer_key, peer_ephemeral = decode_hello(peer_hello)
    _check_peer(peer_chain, peer_key, chain_id, node_key.public_key, expected_peer, is_allowed)

    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(peer_ephemeral))
    except ValueError:
        raise HandshakeError("peer's ephemeral key is a low-order point") from None
    if initiator:
        transcript = transcript_hash(own_hello, peer_hello)
        own_role, peer_role = INITIATOR_ROLE, RESPONDER_ROLE
    else:
        transcript = transcript_hash(peer_hello, own_hello)
        own_role, peer_role = RESPONDER_ROLE, INITIATOR_ROLE
    await send_frame(stream, node_key.sign(auth_message(own_role, transcript)))

    peer_signature = await reader.receive_frame(SIGNATURE_BYTES)
    if peer_signature is None:
        raise HandshakeError("connection closed before the peer's signature")
    if not ED25519.verify(peer_key, auth_message(peer_role, transcript), peer_signature):
        raise HandshakeError("peer's handshake signature does not verify")

    to_responder, to_initiator = session_keys(shared, transcript)
    return SecureChannel(
        stream,
        reader,
        send_key=to_responder if initiator else to_initiator,
        receive_key=to_initiator if initiator else to_responder,
        peer_public_key=peer_key,
        max_frame_bytes=max_frame_bytes,
    )


def _check_peer(
    peer_chain: bytes,
    peer_key: bytes,
    chain_id: str,
    own_key: bytes,
    expected_peer: bytes | None,
    is_allowed: Callable[[bytes], bool],
) -> None:
    if peer_chain != chain_id.encode():
        raise PeerRefused(f"peer is on chain {peer_chain!r}, expected {chain_id!r}")
    if peer_key == own_key:
        raise PeerRefused("peer presented our own key (connected to ourselves?)")
    if expected_peer is not None and peer_key != expected_peer:
        raise PeerRefused(f"dialed {expected_peer.hex()[:16]} but reached {peer_key.hex()[:16]}")
    if not is_allowed(peer_key):
        raise PeerRefused(f"key {peer_key.hex()} is not an allowed peer")
