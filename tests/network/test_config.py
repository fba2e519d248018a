from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from consensus.timeouts import TimeoutConfig
from network.addresses import AddressError, PeerAddress, parse_host_port
from network.config import ConfigError, StoreConfig, load_config, parse_config
from network.node_cli import settings_from_config

REPO = Path(__file__).resolve().parents[2]
KEY = "ab" * 32
OTHER_KEY = "cd" * 32
BASE: dict[str, Any] = {
    "node_key_file": "node.key",
    "genesis_file": "genesis.toml",
    "data_dir": "data",
    "listen_address": "127.0.0.1:26656",
    "peers": [{"address": "127.0.0.1:26666", "public_key": KEY}, {"address": "10.0.0.2:1"}],
}


def parse(document: dict[str, Any]) -> Any:
    return parse_config(document, base_dir=Path("/srv/node"))


def test_minimal_config_gets_defaults_and_absolute_paths() -> None:
    config = parse(BASE)
    assert config.node_key_file == Path("/srv/node/node.key")
    assert config.data_dir == Path("/srv/node/data")
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 26656)
    assert config.peers == (
        PeerAddress("127.0.0.1", 26666, bytes.fromhex(KEY)),
        PeerAddress("10.0.0.2", 1, None),
    )
    assert config.api_host is None and config.api_port is None
    assert config.timeouts == TimeoutConfig()
    assert config.log_level == "INFO"
    options = config.transport.peer_manager_options()
    assert options["redial_base_s"] == 0.1 and options["redial_cap_s"] == 5.0


def test_the_example_config_is_valid() -> None:
    config = load_config(REPO / "configs" / "node.example.toml")
    assert config.genesis_file == REPO / "configs" / "genesis.example.toml"
    assert config.api_port == 26657
    assert len(config.peers) == 3 and config.peers[2].public_key is None
    assert config.transport.max_frame_bytes == 4 * 1024 * 1024
    assert config.store == StoreConfig()  # the example shows the defaults


def test_store_table_is_read_and_reaches_the_node_settings(tmp_path: Path) -> None:
    default = parse(BASE).store
    assert (default.initial_map_size, default.growth_step, default.min_free_disk) == (
        1 << 30,
        1 << 30,
        1 << 30,
    )
    store = {"initial_map_size": 2 << 20, "growth_step": 1 << 20, "min_free_disk": 0}
    config = parse({**BASE, "store": store})
    assert config.store == StoreConfig(2 << 20, 1 << 20, 0)
    settings = settings_from_config(config)
    assert (settings.map_size_bytes, settings.store_growth_step) == (2 << 20, 1 << 20)
    assert settings.store_min_free_disk == 0


def _with(path: str, value: Any) -> dict[str, Any]:
    """BASE with the dotted `path` set to `value` (`_DELETE` removes it)."""
    document = copy.deepcopy(BASE)
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    node: Any = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return document


_DELETE = object()

CATALOGUE = [
    ("node_key_file", _DELETE, "node_key_file", "required field is missing"),
    ("genesis_file", 42, "genesis_file", "expected a non-empty string"),
    ("data_dir", "  ", "data_dir", "expected a non-empty string"),
    ("listen_address", "localhost", "listen_address", "expected host:port"),
    ("listen_address", "127.0.0.1:99999", "listen_address", "out of range"),
    ("api_address", "127.0.0.1:http", "api_address", "bad port"),
    ("log_level", "loud", "log_level", "expected one of debug"),
    ("peers", "127.0.0.1:1", "peers", "expected a list"),
    ("peers[1]", "127.0.0.1:1", "peers[1]", "expected a table"),
    ("peers[1].address", "nowhere", "peers[1].address", "expected host:port"),
    ("peers[1].address", "127.0.0.1:0", "peers[1].address", "port 0 out of range"),
    ("peers[1].address", _DELETE, "peers[1].address", "required field is missing"),
    ("peers[1].address", "127.0.0.1:26666", "peers[1].address", "duplicate of peers[0]"),
    ("peers[1].public_key", KEY, "peers[1].public_key", "duplicate of peers[0]"),
    ("peers[0].public_key", "zz", "peers[0].public_key", "not valid hex"),
    ("peers[0].public_key", "abcd", "peers[0].public_key", "expected 32 bytes"),
    ("peers[0].pubkey", KEY, "peers[0].pubkey", "unknown field"),
    ("allowed_peers", [OTHER_KEY, 7], "allowed_peers[1]", "expected a hex public key"),
    ("timeouts.propose_ms", -1, "timeouts.propose_ms", "outside"),
    ("timeouts.prevote_ms", 1.5, "timeouts.prevote_ms", "expected an integer"),
    ("timeouts.precommit_ms", True, "timeouts.precommit_ms", "expected an integer"),
    ("timeouts.propse_ms", 10, "timeouts.propse_ms", "unknown field"),
    ("timeouts", [], "timeouts", "expected a table"),
    ("mempool.max_txs", 0, "mempool.max_txs", "outside"),
    ("mempool.max_bytes", "big", "mempool.max_bytes", "expected an integer"),
    ("transport.max_frame_bytes", 2**40, "transport.max_frame_bytes", "outside"),
    ("transport.redial_cap_ms", 50, "transport.redial_cap_ms", "at least redial_base_ms"),
    ("transport.idle_timeout_ms", 2000, "transport.idle_timeout_ms", "greater than keepalive"),
    ("transport.send_queue_frames", 0, "transport.send_queue_frames", "outside"),
    ("store.initial_map_size", 4096, "store.initial_map_size", "outside"),
    ("store.initial_map_size", "1GiB", "store.initial_map_size", "expected an integer"),
    ("store.growth_step", 0, "store.growth_step", "outside"),
    ("store.growth_step", 2**51, "store.growth_step", "outside"),
    ("store.min_free_disk", -1, "store.min_free_disk", "outside"),
    ("store.min_free_disk", 1.5, "store.min_free_disk", "expected an integer"),
    ("store.map_size", 1 << 30, "store.map_size", "unknown field"),
    ("store", 5, "store", "expected a table"),
    ("colour", "blue", "colour", "unknown field"),
]


@pytest.mark.parametrize(
    ("path", "value", "field", "problem"), CATALOGUE, ids=[f"{c[0]}-{c[3]}" for c in CATALOGUE]
)
def test_each_bad_field_is_named(path: str, value: Any, field: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(_with(path, value))
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert problem in str(info.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('node_key_file = "unterminated\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(binary)


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "node.toml"
    path.write_text(
        'node_key_file = "../keys/node.key"\ngenesis_file = "g.toml"\ndata_dir = "/var/dn"\n'
    )
    config = load_config(path)
    assert config.node_key_file == tmp_path / "keys" / "node.key"
    assert config.genesis_file == tmp_path / "conf" / "g.toml"
    assert config.data_dir == Path("/var/dn")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("node-1.bank.example:26656", ("node-1.bank.example", 26656)),
        ("[::1]:9000", ("::1", 9000)),
    ],
)
def test_host_port_parsing(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text) == expected
    host, port = expected
    assert parse_host_port(str(PeerAddress(host, port))) == expected


@pytest.mark.parametrize(
    "text", ["", ":80", "host:", "host:-1", "::1:80", "[::1]80", "a b:1", "host:٣", "h:65536"]
)
def test_bad_host_port(text: str) -> None:
    with pytest.raises(AddressError):
        parse_host_port(text)


def test_blocks_table_is_read_and_validated(tmp_path: Path) -> None:
    base = {"node_key_file": "k", "genesis_file": "g", "data_dir": "d"}
    config = parse_config(
        {**base, "blocks": {"create_empty_blocks": True, "max_block_txs": 500}},
        base_dir=tmp_path,
    )
    assert config.blocks.create_empty_blocks is True
    assert config.blocks.max_block_txs == 500
    default = parse_config(base, base_dir=tmp_path).blocks
    assert (default.create_empty_blocks, default.empty_block_interval_ms) == (False, 1_000)
    with pytest.raises(ConfigError, match=r"^blocks\.create_empty_blocks: expected true or false"):
        parse_config({**base, "blocks": {"create_empty_blocks": 1}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^blocks\.max_block_txs: 0 is outside"):
        parse_config({**base, "blocks": {"max_block_txs": 0}}, base_dir=tmp_path)
