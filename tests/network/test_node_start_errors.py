"""`depositnet node` start-up mistakes are one line and exit status 2, never a traceback.

Each test runs the real command as a subprocess against a real testnet directory: the errors
come from inside the node's nurseries, where they used to surface as ExceptionGroup tracebacks.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from network.localnet import LocalNetwork, free_ports
from network.testnet_init import TestnetLayout, init_testnet

ENTRY = "import sys; from depositnet.cli import main; sys.exit(main(sys.argv[1:]))"
RUN_TIMEOUT_S = 120  # a guard against a hang only; a failing start returns in about a second


def run_node(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, "node", "--config", os.fspath(config)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("depositnet:")]
    assert "Traceback" not in result.stderr, result.stderr
    assert "ExceptionGroup" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and errors[0].startswith("depositnet: error: "), result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1] == errors[0], result.stderr
    for fragment in fragments:
        assert fragment in errors[0], result.stderr


def one_validator(directory: Path, p2p_port: int, api_port: int) -> TestnetLayout:
    return init_testnet(directory, validators=1, p2p_ports=[p2p_port], api_ports=[api_port])


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port another program listens on for the length of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_missing_store_is_one_line(tmp_path: Path) -> None:
    p2p, api = free_ports(2)
    layout = one_validator(tmp_path / "net", p2p, api)
    shutil.rmtree(layout.directory / "data" / "node0" / "store")
    assert_one_line_error(run_node(layout.configs[0]), "no store at", "depositnet init node")


def test_second_instance_says_the_store_is_in_use(tmp_path: Path) -> None:
    with LocalNetwork(tmp_path / "net", validators=1) as network:
        network.start_all()
        result = run_node(network.layout.configs[0])
        assert network.is_running(0)  # the first instance is untouched
    assert_one_line_error(result, "in use by another process", "already running")


@pytest.mark.parametrize("setting", ["listen_address", "api_address"])
def test_a_port_in_use_names_its_setting(tmp_path: Path, occupied_port: int, setting: str) -> None:
    (other,) = free_ports(1)
    p2p, api = (occupied_port, other) if setting == "listen_address" else (other, occupied_port)
    layout = one_validator(tmp_path / "net", p2p, api)
    assert_one_line_error(
        run_node(layout.configs[0]),
        f"127.0.0.1:{occupied_port}",
        f"({setting})",
        "already in use",
    )


def test_a_bad_genesis_names_its_file_once(tmp_path: Path) -> None:
    p2p, api = free_ports(2)
    layout = one_validator(tmp_path / "net", p2p, api)
    document = json.loads(layout.genesis_path.read_text())
    layout.genesis_path.write_text(json.dumps({**document, "bogus": 1}))
    result = run_node(layout.configs[0])
    assert_one_line_error(result, f"genesis file {layout.genesis_path}: unknown field(s) bogus")
    assert "genesis: " not in result.stderr


def test_a_non_key_file_as_node_key_says_it_is_no_key_file(tmp_path: Path) -> None:
    p2p, api = free_ports(2)
    layout = one_validator(tmp_path / "net", p2p, api)
    config = layout.configs[0]
    config.write_text(
        config.read_text().replace('node_key_file = "node0.key"', 'node_key_file = "genesis.json"')
    )
    layout.genesis_path.chmod(0o644)
    result = run_node(config)
    assert_one_line_error(result, "genesis.json: not a depositnet key file", "keys generate")
    assert "permissions" not in result.stderr and "chain_id" not in result.stderr
