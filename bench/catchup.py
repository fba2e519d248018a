"""Catch-up speed: a validator that lacks N blocks, against the rate the live network made them.

A healthy local network (every validator up) commits `blocks` blocks; the live rate is blocks /
wall time. Then one validator is stopped, its store is replaced by a fresh one (as a new
validator joining, it holds no block) and it is restarted; the catch-up rate is the blocks it
fetched and verified / the time from its restart until it reached the height the others had
when it came back. The speed-up is the catch-up rate over the live rate.

Why not simply stop a validator while the others run on: with 4 validators the stopped one is
still the proposer of every 4th height, each of which then waits out the propose timeout, so the
"live" rate would be the rate of a crippled network, and any catch-up would look fast beside it.
Replacing the store is safe here: the validator comes back at a height far beyond anything it
ever signed. Blocks are what the network makes on its own (empty: this measures sync, not
execution), at consensus speed: the bench's validators propose empty blocks at once
(`create_empty_blocks = true`), where a node by default makes one a second when idle, which
would make the live rate that interval, not the network's speed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from network.localnet import LocalNetwork
from network.node import NodeSettings, init_store

POLL_S = 0.2
CONSENSUS_SPEED = "\n[blocks]\ncreate_empty_blocks = true\n"


def height(http: httpx.Client, url: str) -> int:
    value = http.get(url + "/status").json().get("height")
    if type(value) is not int:
        raise RuntimeError(f"{url}/status gave no height")
    return value


def wait_height(http: httpx.Client, url: str, target: int, timeout_s: float) -> float:
    """Seconds until `url` reports `target` or more; TimeoutError after `timeout_s`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if height(http, url) >= target:
            return time.monotonic() - start
        time.sleep(POLL_S)
    raise TimeoutError(f"{url} did not reach height {target} in {timeout_s:g} s")


def speedup(
    live_blocks: int, live_s: float, caught_up_blocks: int, catchup_s: float
) -> dict[str, float]:
    live = live_blocks / live_s
    fast = caught_up_blocks / catchup_s
    return {"live_blocks_per_s": live, "catchup_blocks_per_s": fast, "speedup": fast / live}


def run(blocks: int, validators: int = 4, timeout_s: float = 3600.0) -> dict[str, Any]:
    """Measure; the result dict is what `depositnet bench` folds into its targets."""
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="depositnet-catchup-") as tmp:
        network = LocalNetwork(
            Path(tmp) / "net", validators=validators, config_extra=CONSENSUS_SPEED
        )
        lagger = validators - 1
        with network, httpx.Client(timeout=10.0) as http:
            network.start_all()
            leader = network.api_urls[0]
            wait_height(http, leader, 2, 60)
            first = height(http, leader)
            print(f"all {validators} validators up at height {first}; "
                  f"waiting for {blocks} blocks ...", flush=True)  # fmt: skip
            live_s = wait_height(http, leader, first + blocks, timeout_s)
            network.stop(lagger)
            data_dir = network.layout.directory / "data" / f"node{lagger}"
            shutil.rmtree(data_dir)
            init_store(NodeSettings(data_dir=data_dir))
            target = height(http, leader)
            print(f"validator {lagger} restarted on an empty store; "
                  f"catching up to height {target} ...", flush=True)  # fmt: skip
            started = time.monotonic()
            network.start(lagger)
            ready_s = time.monotonic() - started
            wait_height(http, network.api_urls[lagger], target, timeout_s)
            catchup_s = time.monotonic() - started
            caught = target
            live_during = height(http, leader) - target
    out: dict[str, Any] = {
        "validators": validators,
        "blocks": blocks,
        "first_height": first,
        "target_height": target,
        "caught_up_blocks": caught,
        "live_s": live_s,
        "restart_ready_s": ready_s,  # part of catchup_s
        "catchup_s": catchup_s,
        "live_blocks_during_catchup": live_during,
        **speedup(blocks, live_s, caught, catchup_s),
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
    }
    return out
