"""`depositnet testnet` as an operator runs it: Ctrl-C, a shadowing `depositnet/` folder in
the current directory, and a validator that dies while starting.

The command runs as a real subprocess with one validator (the fewest processes on a shared
machine); the tests wait for the lines it prints, never for a fixed time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.store_lmdb import LmdbStore
from network.localnet import LocalNetwork, LocalNetworkError

ENTRY = "import sys; from depositnet.cli import main; sys.exit(main(sys.argv[1:]))"
"""What the `depositnet` console script runs. With `-P`, like that script, the parent does
not import from the current directory either (the script's sys.path[0] is its bin dir)."""
RUN_TIMEOUT_S = 240  # a guard against a hang only


def cli_args(*args: str) -> list[str]:
    return [sys.executable, "-P", "-c", ENTRY, "testnet", "--validators", "1", *args]


def test_ctrl_c_stops_cleanly_and_prints_the_summary(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    proc = subprocess.Popen(
        cli_args("--duration", "600", "--rate", "20", "--dir", os.fspath(directory)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:  # wait until the load runs: the first live status line
            seen.append(line)
            if line.startswith("height "):
                break
        else:
            pytest.fail(f"no status line; stdout {seen}, stderr {proc.communicate()[1]}")
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(seen) + rest
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    assert "interrupted: stopping the load" in out
    assert "s of transfers (interrupted; 600 s were asked)" in out
    assert "  transfers submitted   " in out
    assert "  agreement             ok: all 1 validators hold block" in out, out
    # The validator stopped: its store's lock is free again.
    LmdbStore.open(directory / "data" / "node0" / "store", create=False).close()


def test_testnet_runs_from_a_folder_holding_a_depositnet_folder(tmp_path: Path) -> None:
    """The validators do not import from the cwd; and the summary's common height and its
    agreement line name the same block."""
    shadow = tmp_path / "depositnet"
    shadow.mkdir()
    (shadow / "__init__.py").write_text('raise SystemExit("the shadowing depositnet/ ran")\n')
    result = subprocess.run(
        cli_args("--duration", "1", "--rate", "10"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "shadowing" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    common = next(line for line in lines if line.startswith("  common height"))
    agreement = next(line for line in lines if line.startswith("  agreement"))
    assert f"ok: all 1 validators hold block {common.split()[2]} = " in agreement, result.stdout


def test_a_validator_dying_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    bad_config = "no_such_setting = 1\n"
    with (
        LocalNetwork(tmp_path / "net", validators=1, config_extra=bad_config) as net,
        pytest.raises(LocalNetworkError) as caught,
    ):
        net.start_all()
    message = str(caught.value)
    assert "validator 0 exited with 2 while starting" in message
    assert "depositnet: error: no_such_setting: unknown field" in message
