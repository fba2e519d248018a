"""The files an operator installs on a validator host (deploy/): unit, config and their fit.

The unit is checked three ways: systemd's own parser (`systemd-analyze verify`) finds no unknown
or invalid setting, the hardening the README promises is really in it, and its ExecStart parses
with the real CLI. deploy/node.toml is loaded by the project's config loader, and then run:
with its paths moved into a temp directory, `depositnet init node` and `depositnet node` start
from it under the kernel's write-xor-execute rule (what MemoryDenyWriteExecute= enforces), make
a block, and stop cleanly on SIGTERM (what KillSignal= and TimeoutStopSec= rely on).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from depositnet.cli import build_parser
from network.config import load_config
from network.logs import parse_ready
from network.testnet_init import init_testnet

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "depositnet-validator.service"
CONFIG = REPO / "deploy" / "node.toml"
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
JSON_LOGS = ("--log-format", "json")
WAIT_S = 60.0  # a bound on waits for events: it only turns a hang into a failure

HARDENING = {
    "User": "depositnet",
    "Group": "depositnet",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "ReadWritePaths": "/var/lib/depositnet",
    "StateDirectory": "depositnet",
    "ConfigurationDirectory": "depositnet",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter": "@system-service",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "UMask": "0077",
    "Restart": "on-failure",
    "KillSignal": "SIGTERM",
}


def unit_settings(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value assigned (systemd allows repeated keys)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {raw!r}"
        sections[section][key.strip()].append(value.strip())
    return sections


def test_unit_has_the_promised_hardening() -> None:
    service = unit_settings(UNIT.read_text())["Service"]
    for key, value in HARDENING.items():
        assert value in service[key], f"{key}={value} missing (have {service.get(key)})"
    assert 0 < int(service["RestartSec"][-1]) <= 60
    assert 0 < int(service["TimeoutStopSec"][-1]) <= 120


def test_unit_exec_start_is_a_valid_node_command() -> None:
    service = unit_settings(UNIT.read_text())["Service"]
    (exec_start,) = service["ExecStart"]
    binary, *argv = shlex.split(exec_start)
    assert binary == "/opt/depositnet/venv/bin/depositnet"
    args = build_parser(argv).parse_args(argv)
    assert args.command == "node"
    assert args.config == "/etc/depositnet/node.toml"
    assert args.log_format == "json"


def verify(unit_text: str, directory: Path) -> str:
    """`systemd-analyze verify` on `unit_text`; returns what it printed (warnings included)."""
    path = directory / UNIT.name
    path.write_text(unit_text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    return done.stdout + done.stderr


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)
def test_systemd_analyze_verify_finds_nothing_to_warn_about(tmp_path: Path) -> None:
    # verify insists that ExecStart's binary exists: point it at one that does, keep the rest.
    text = re.sub(r"(?m)^ExecStart=.*$", "ExecStart=/bin/true", UNIT.read_text())
    assert text.count("ExecStart=/bin/true") == 1
    assert verify(text, tmp_path) == ""
    # The same check does see a bad setting, so the empty output above means something.
    bad = text.replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomeTypo=yes")
    assert "ProtectHomeTypo" in verify(bad, tmp_path)


def test_deploy_config_loads_with_the_node_loader() -> None:
    config = load_config(CONFIG)
    assert config.node_key_file == Path("/etc/depositnet/node.key")
    assert config.genesis_file == Path("/etc/depositnet/genesis.json")
    # The store must be where the unit lets the service write.
    assert config.data_dir.is_relative_to("/var/lib/depositnet")
    assert config.data_dir != Path("/var/lib/depositnet")
    assert config.api_host == "127.0.0.1"
    assert len(config.peers) >= 1 and all(p.public_key for p in config.peers)


def deployed_copy(tmp: Path) -> Path:
    """deploy/node.toml with /etc and /var/lib moved under `tmp`, no peers, free ports."""
    etc, state = tmp / "etc" / "depositnet", tmp / "var" / "lib" / "depositnet"
    state.mkdir(parents=True)
    layout = init_testnet(tmp / "net", validators=1, p2p_ports=[26656], api_ports=[26657])
    etc.mkdir(parents=True)
    shutil.copy(layout.genesis_path, etc / "genesis.json")
    shutil.copy(tmp / "net" / "node0.key", etc / "node.key")
    os.chmod(etc / "node.key", 0o600)
    text = CONFIG.read_text()
    head, _, rest = text.partition("[[peers]]")
    _, _, tail = rest.partition("[timeouts]")
    text = f"{head}[timeouts]{tail}"
    text = text.replace("/etc/depositnet", str(etc)).replace("/var/lib/depositnet", str(state))
    text = re.sub(r'(?m)^(listen_address|api_address) = "[^"]*:(\d+)"', r'\1 = "127.0.0.1:0"', text)
    assert text.count("127.0.0.1:0") == 2 and "[[peers]]" not in text
    path = etc / "node.toml"
    path.write_text(text)
    return path


MDWE_LAUNCHER = f"""
import ctypes, mmap, os, sys
if ctypes.CDLL(None, use_errno=True).prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0):
    sys.exit(77)
try:  # the rule is on: a writable and executable mapping is refused
    mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit(78)
except PermissionError:
    pass
os.execv(sys.executable, [sys.executable, "-m", "depositnet", *sys.argv[1:]])
"""


def mdwe_supported() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", MDWE_LAUNCHER, "--version"], capture_output=True, timeout=WAIT_S
    )
    return probe.returncode == 0


def latest_height(api: str) -> int | None:
    try:
        reply = httpx.get(f"{api}/blocks/latest/header", timeout=5.0)
    except httpx.TransportError:
        return None
    return int(reply.json()["height"]) if reply.status_code == 200 else None


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_MDWE is a Linux prctl")
def test_deploy_config_runs_a_node_under_write_xor_execute(tmp_path: Path) -> None:
    if not mdwe_supported():
        pytest.skip("this kernel has no PR_SET_MDWE (Linux >= 6.3)")
    config = deployed_copy(tmp_path)
    init = subprocess.run(
        [sys.executable, "-m", "depositnet", "init", "node", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert init.returncode == 0, init.stderr
    log_path = tmp_path / "node.log"
    with log_path.open("w") as log:
        node = subprocess.Popen(
            [sys.executable, "-c", MDWE_LAUNCHER, "node", "--config", str(config), *JSON_LOGS],
            stdout=subprocess.PIPE,
            stderr=log,  # a file, not a pipe: nobody reads it while the node runs
            text=True,
        )
    try:
        assert node.stdout is not None
        ready = parse_ready(node.stdout.readline())  # blocks until the node is up (or exits)
        assert ready is not None, log_path.read_text()
        api = f"http://127.0.0.1:{ready['api_port']}"
        deadline = time.monotonic() + WAIT_S
        while (latest_height(api) or 0) < 1:
            assert node.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "no block committed"
            time.sleep(0.1)
        node.send_signal(signal.SIGTERM)
        node.wait(timeout=WAIT_S)
    finally:
        if node.poll() is None:
            node.kill()
        node.communicate()
    err = log_path.read_text()
    assert node.returncode == 0, err
    messages = [json.loads(line)["msg"] for line in err.splitlines() if line.startswith("{")]
    assert "stopping on SIGTERM" in messages and messages[-1] == "stopped", messages[-5:]
