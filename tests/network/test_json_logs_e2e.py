"""`depositnet node --log-format json`: every line it prints, on stdout and stderr, is JSON.

A log collector reading a validator's output must never meet a line it cannot parse, so the
`ready` line (stdout, which scripts wait for) and the `stopped` line are JSON records too.
One real single-validator process: start it, wait for a commit, stop it with SIGTERM.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from network.localnet import free_ports
from network.logs import parse_ready
from network.testnet_init import init_testnet

DEADLINE_S = 60.0


def _json_lines(text: str, where: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        record = json.loads(line)  # raises on the first line that is not JSON
        assert isinstance(record, dict), (where, line)
        assert {"ts", "level", "logger", "msg"} <= record.keys(), (where, line)
        records.append(record)
    return records


def _read_ready(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and proc.poll() is None:
        readable, _, _ = select.select([proc.stdout], [], [], 0.5)
        if readable:
            return proc.stdout.readline().decode()
    raise AssertionError(f"no ready line (exit status {proc.poll()})")


def _wait_for_height(url: str, height: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/status", timeout=5.0).json()["height"] >= height:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # polling for the commit, with a deadline
    raise AssertionError(f"height {height} not reached in {DEADLINE_S:g} s")


def test_every_line_is_json_in_json_mode(tmp_path: Path) -> None:
    p2p, api = free_ports(2)
    layout = init_testnet(tmp_path / "net", validators=1, p2p_ports=[p2p], api_ports=[api])
    stderr_path = tmp_path / "node.err"
    command = [sys.executable, "-m", "depositnet", "node", "--config", os.fspath(layout.configs[0])]
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [*command, "--log-format", "json"], stdout=subprocess.PIPE, stderr=stderr
        )
    try:
        ready = _read_ready(proc)
        fields = parse_ready(ready)
        assert fields is not None and fields["p2p_port"] == str(p2p), ready
        assert json.loads(ready)["api_port"] == api
        _wait_for_height(layout.api_urls[0], 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0
    stdout_records = _json_lines(ready + out.decode(), "stdout")
    assert [r["msg"] for r in stdout_records] == ["ready"]
    messages = [r["msg"] for r in _json_lines(stderr_path.read_text(), "stderr")]
    assert "validator started" in messages
    assert messages[-1] == "stopped"
