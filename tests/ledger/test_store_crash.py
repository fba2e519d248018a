"""Crash atomicity: SIGKILL a process committing heights, reopen, and find a whole last height.

`crash_writer.py` commits heights in a loop; the test kills it after a delay drawn from a
seeded `random.Random` (some before it has even opened the store), then reopens the store and
checks that the last height is complete, nothing of the next height exists, and a replay of
every stored block from scratch reproduces the stored app hashes and the stored state exactly.
Set DEPOSITNET_CRASH_SEED to replay a failing schedule, DEPOSITNET_SOAK=1 for many more kills.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.store_lmdb import LmdbStore
from tests.ledger.crash_writer import (
    GENESIS_HASH,
    MAP_SIZE,
    apply,
    commit_for,
    decode_block,
    encode_block,
    next_app_hash,
    results_for,
    sign_state_for,
    writes_for,
)

REPO = Path(__file__).resolve().parents[2]
SOAK = os.environ.get("DEPOSITNET_SOAK") == "1"
SEED = int(os.environ.get("DEPOSITNET_CRASH_SEED", "20261125"))
KILLS = 80 if SOAK else 10


def check_store(path: Path) -> int:
    """Reopen the store and check everything about its last height; return that height."""
    with LmdbStore.open(path, map_size=MAP_SIZE) as store:
        last = store.last_height()
        state: dict[bytes, bytes] = {}
        app_hash = GENESIS_HASH
        for height in range(1, last + 1):
            block = store.load_block(height)
            assert block is not None, f"block {height} of {last} missing"
            assert block == encode_block(height, writes_for(height)), f"block {height} torn"
            number, writes = decode_block(block)
            assert number == height
            apply(state, writes)
            app_hash = next_app_hash(app_hash, state)
            assert store.load_app_hash(height) == app_hash, f"app hash {height} differs"
            assert store.load_commit(height) == commit_for(height, app_hash)
        for tx_id, result in results_for(last).items() if last else ():
            assert store.load_tx_index(tx_id) == result
        assert dict(store.iter_state()) == state, "stored state differs from the replay"
        after = last + 1
        assert store.load_block(after) is None
        assert store.load_commit(after) is None
        assert store.load_app_hash(after) is None
        assert all(store.load_tx_index(t) is None for t in results_for(after))
        # The sign state for a height is saved before that height is committed.
        expected_sign: set[bytes | None] = {sign_state_for(last), sign_state_for(after)}
        if last == 0:
            expected_sign |= {None}
        assert store.load_sign_state() in expected_sign
        return last


def _kill_once(path: Path, rng: random.Random, log: Path) -> str:
    """Start the writer, SIGKILL it after a seeded delay; say what happened."""
    early = rng.random() < 0.2
    delay = rng.uniform(0.0, 0.15) if early else rng.uniform(0.0, 0.3)
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.ledger.crash_writer", str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=err,
        )
        try:
            if not early:
                assert proc.stdout is not None
                ready = proc.stdout.readline()
                assert ready.startswith(b"ready"), f"writer did not start: {log.read_text()}"
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, f"writer died by itself: {log.read_text()}"
    return f"{'early' if early else 'after ready'} kill at {delay:.3f}s"


@pytest.mark.slow
def test_sigkill_never_leaves_a_partial_height(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    path = tmp_path / "db"
    heights = [0]
    for kill in range(KILLS):
        what = _kill_once(path, rng, tmp_path / "writer.err")
        try:
            heights.append(check_store(path))
        except AssertionError as exc:
            raise AssertionError(
                f"seed {SEED}, kill {kill} ({what}): {exc}; "
                f"replay with DEPOSITNET_CRASH_SEED={SEED}"
            ) from exc
        assert heights[-1] >= heights[-2], f"seed {SEED}: the store went back in height"
    # A test that never let the writer commit would prove nothing.
    assert heights[-1] > 0, f"seed {SEED}: no height was ever committed"
