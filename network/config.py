"""The node's TOML configuration, read once at start-up and validated field by field.

Everything an operator can get wrong is checked here, before the node touches the network or
the disk, and each mistake is a `ConfigError` whose message starts with the dotted path of the
field (`peers[2].address: expected host:port, got 'x'`). Unknown fields are errors too: a typo
such as `propse_ms` must not silently leave a default in place. Relative paths are resolved
against the config file's directory, so a config works wherever the node is started from.
See `configs/node.example.toml` for every field with its default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from consensus.timeouts import MAX_TIMEOUT_MS, TimeoutConfig
from network.addresses import PeerAddress
from network.framing import MAX_FRAME_BYTES
from network.toml_fields import ConfigError, Table

__all__ = [
    "ConfigError",
    "MempoolLimits",
    "NodeConfig",
    "StoreConfig",
    "TransportConfig",
    "load_config",
    "parse_config",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_PEERS = 1000
MAX_CONFIG_BYTES = 1 << 20


@attrs.frozen
class TransportConfig:
    """Knobs of `network.peers.PeerManager` (times in ms here, converted for the manager)."""

    max_frame_bytes: int = MAX_FRAME_BYTES
    send_queue_frames: int = 1024
    handshake_timeout_ms: int = 5_000
    redial_base_ms: int = 100
    redial_cap_ms: int = 5_000
    keepalive_ms: int = 2_000
    idle_timeout_ms: int = 10_000
    max_pending_handshakes: int = 64

    def peer_manager_options(self) -> dict[str, Any]:
        """Keyword arguments for `PeerManager` beyond identity, addresses and channels."""
        return {
            "max_frame_bytes": self.max_frame_bytes,
            "send_queue_frames": self.send_queue_frames,
            "handshake_timeout_s": self.handshake_timeout_ms / 1000,
            "redial_base_s": self.redial_base_ms / 1000,
            "redial_cap_s": self.redial_cap_ms / 1000,
            "keepalive_s": self.keepalive_ms / 1000,
            "idle_timeout_s": self.idle_timeout_ms / 1000,
            "max_pending_handshakes": self.max_pending_handshakes,
        }


@attrs.frozen
class MempoolLimits:
    max_txs: int = 10_000
    max_bytes: int = 8 << 20


@attrs.frozen
class BlockLimits:
    """How big blocks may be, and whether to produce empty ones (see ReplicaConfig)."""

    max_block_txs: int = 2_000
    max_block_bytes: int = 1_000_000
    create_empty_blocks: bool = False
    empty_block_interval_ms: int = 1_000
    """An idle chain makes one (empty) block a second: its time keeps moving, so clients see
    their transactions expire, without filling the disk at consensus speed (an always-empty
    chain commits tens of blocks a second)."""


GIB = 1 << 30
MIB = 1 << 20
MAX_STORE_BYTES = 1 << 50


@attrs.frozen
class StoreConfig:
    """How the LMDB map starts and grows, and how much disk it must leave free (bytes)."""

    initial_map_size: int = GIB
    growth_step: int = GIB
    min_free_disk: int = GIB


@attrs.frozen
class NodeConfig:
    """A validated node configuration; paths are absolute."""

    node_key_file: Path
    genesis_file: Path
    data_dir: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 26656
    api_host: str | None = "127.0.0.1"  # None (with api_port None): no client API
    api_port: int | None = 26657
    peers: tuple[PeerAddress, ...] = ()
    allowed_peers: tuple[bytes, ...] = ()  # keys allowed to connect besides the validators
    log_level: str = "INFO"
    timeouts: TimeoutConfig = attrs.field(factory=TimeoutConfig)
    mempool: MempoolLimits = attrs.field(factory=MempoolLimits)
    blocks: BlockLimits = attrs.field(factory=BlockLimits)
    transport: TransportConfig = attrs.field(factory=TransportConfig)
    store: StoreConfig = attrs.field(factory=StoreConfig)


def load_config(path: str | Path) -> NodeConfig:
    """Read and validate the TOML file at `path`."""
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read config {source}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("", f"config {source} is over {MAX_CONFIG_BYTES} bytes")
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("", f"config {source} is not valid TOML: {exc}") from None
    return parse_config(document, base_dir=source.resolve().parent)


def parse_config(document: Mapping[str, Any], *, base_dir: Path) -> NodeConfig:
    """Validate an already-parsed config mapping; relative paths resolve against `base_dir`."""
    top = Table(document, "")
    listen_host, listen_port = top.address("listen_address", "127.0.0.1:26656", port_zero=True)
    api_host: str | None = None
    api_port: int | None = None
    if "api_address" in document:
        api_host, api_port = top.address("api_address", "", port_zero=True)
    config = NodeConfig(
        node_key_file=top.path("node_key_file", base_dir),
        genesis_file=top.path("genesis_file", base_dir),
        data_dir=top.path("data_dir", base_dir),
        listen_host=listen_host,
        listen_port=listen_port,
        api_host=api_host,
        api_port=api_port,
        peers=_peers(top),
        allowed_peers=tuple(
            _hex_key(value, f"allowed_peers[{i}]")
            for i, value in enumerate(top.items("allowed_peers", MAX_PEERS))
        ),
        log_level=top.choice("log_level", "INFO", LOG_LEVELS),
        timeouts=_timeouts(top.table("timeouts")),
        mempool=_mempool(top.table("mempool")),
        blocks=_blocks(top.table("blocks")),
        transport=_transport(top.table("transport")),
        store=_store(top.table("store")),
    )
    top.finish()
    return config


def _peers(top: Table) -> tuple[PeerAddress, ...]:
    peers: list[PeerAddress] = []
    seen: dict[object, str] = {}
    for i, entry in enumerate(top.items("peers", MAX_PEERS)):
        name = f"peers[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(name, "expected a table with an address")
        table = Table(entry, name)
        host, port = table.address("address", None)
        key = table.optional("public_key")
        public_key = None if key is None else _hex_key(key, f"{name}.public_key")
        table.finish()
        for marker, field in (((host, port), "address"), (public_key, "public_key")):
            if marker is not None and marker in seen:
                raise ConfigError(f"{name}.{field}", f"duplicate of {seen[marker]}")
            if marker is not None:
                seen[marker] = f"{name}.{field}"
        peers.append(PeerAddress(host, port, public_key))
    return tuple(peers)


def _timeouts(table: Table) -> TimeoutConfig:
    defaults = TimeoutConfig()
    values = {
        name: table.integer(name, getattr(defaults, name), 0, MAX_TIMEOUT_MS)
        for name in attrs.fields_dict(TimeoutConfig)
    }
    table.finish()
    return TimeoutConfig(**values)


def _mempool(table: Table) -> MempoolLimits:
    defaults = MempoolLimits()
    limits = MempoolLimits(
        max_txs=table.integer("max_txs", defaults.max_txs, 1, 10_000_000),
        max_bytes=table.integer("max_bytes", defaults.max_bytes, 1024, 1 << 34),
    )
    table.finish()
    return limits


def _blocks(table: Table) -> BlockLimits:
    d = BlockLimits()
    limits = BlockLimits(
        max_block_txs=table.integer("max_block_txs", d.max_block_txs, 1, 100_000),
        max_block_bytes=table.integer("max_block_bytes", d.max_block_bytes, 1024, 1 << 28),
        create_empty_blocks=table.boolean("create_empty_blocks", d.create_empty_blocks),
        empty_block_interval_ms=table.integer(
            "empty_block_interval_ms", d.empty_block_interval_ms, 1, 3_600_000
        ),
    )
    table.finish()
    return limits


def _transport(table: Table) -> TransportConfig:
    d = TransportConfig()
    hour_ms = 3_600_000
    config = TransportConfig(
        max_frame_bytes=table.integer("max_frame_bytes", d.max_frame_bytes, 1024, (1 << 30)),
        send_queue_frames=table.integer("send_queue_frames", d.send_queue_frames, 1, 1 << 20),
        handshake_timeout_ms=table.integer(
            "handshake_timeout_ms", d.handshake_timeout_ms, 1, hour_ms
        ),
        redial_base_ms=table.integer("redial_base_ms", d.redial_base_ms, 1, hour_ms),
        redial_cap_ms=table.integer("redial_cap_ms", d.redial_cap_ms, 1, hour_ms),
        keepalive_ms=table.integer("keepalive_ms", d.keepalive_ms, 1, hour_ms),
        idle_timeout_ms=table.integer("idle_timeout_ms", d.idle_timeout_ms, 2, hour_ms),
        max_pending_handshakes=table.integer(
            "max_pending_handshakes", d.max_pending_handshakes, 1, 1 << 16
        ),
    )
    if config.redial_cap_ms < config.redial_base_ms:
        raise ConfigError(table.field("redial_cap_ms"), "must be at least redial_base_ms")
    if config.idle_timeout_ms <= config.keepalive_ms:
        raise ConfigError(table.field("idle_timeout_ms"), "must be greater than keepalive_ms")
    table.finish()
    return config


def _store(table: Table) -> StoreConfig:
    d = StoreConfig()
    config = StoreConfig(
        initial_map_size=table.integer(
            "initial_map_size", d.initial_map_size, MIB, MAX_STORE_BYTES
        ),
        growth_step=table.integer("growth_step", d.growth_step, MIB, MAX_STORE_BYTES),
        min_free_disk=table.integer("min_free_disk", d.min_free_disk, 0, MAX_STORE_BYTES),
    )
    table.finish()
    return config


def _hex_key(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise ConfigError(field, f"expected a hex public key, got {type(value).__name__}")
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise ConfigError(field, "not valid hex") from None
    if len(key) != 32:
        raise ConfigError(field, f"expected 32 bytes (64 hex characters), got {len(key)}")
    return key
