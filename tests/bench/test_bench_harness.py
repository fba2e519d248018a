"""The harness's own logic: the validity window it gives the bench chain, the soak's checks
that its load was what it claims, and the soak's sampler."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from bench import harness
from ledger.genesis import load_genesis
from network.localnet import LocalNetwork


def soak_step(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "submitted": 6000,
        "rejected": {},
        "max_send_gap_s": 0.06,
        "window_full": 0,
        "achieved_offered_tps": 100.0,
    }
    values.update(overrides)
    return values


def test_a_soak_with_a_valid_load_has_no_problems() -> None:
    assert harness.soak_problems(soak_step(), rate=100.0) == []
    tiny = soak_step(rejected={"EXPIRED": 6, "MEMPOOL_FULL": 50})  # 0.1%: tolerated
    assert harness.soak_problems(tiny, 100.0) == []
    edge = soak_step(achieved_offered_tps=99.0, max_send_gap_s=1.0)  # both limits, inclusive
    assert harness.soak_problems(edge, 100.0) == []


def test_a_soak_fails_on_validity_refusals_pauses_or_a_slow_sender() -> None:
    refused = soak_step(rejected={"EXPIRED": 4, "TOO_FAR_AHEAD": 3})
    assert harness.soak_problems(refused, 100.0) == [
        "7 of 6000 transfers refused as EXPIRED or TOO_FAR_AHEAD (more than 0.1%)"
    ]
    (paused,) = harness.soak_problems(soak_step(max_send_gap_s=2.5, window_full=7), 100.0)
    assert paused == (
        "sending paused for 2.5 s (more than 1 s between two sends; the request window was "
        "full 7 times)"
    )
    (slow,) = harness.soak_problems(soak_step(achieved_offered_tps=98.0), 100.0)
    assert slow == "sent 98/s of the 100/s offered (less than 99%)"


def test_the_window_covers_the_longest_run_and_its_signing() -> None:
    default = harness.validity_window_ms(20.0, 400.0)
    assert default == 600_000  # short steps: the genesis default
    soak = harness.validity_window_ms(600.0, 2600.0)
    # 600 s + 15 s drain + 60 s chain lag + 1.1 x 2,600/s x 600 s signed at 1,000/s
    assert soak == pytest.approx((600 + 15 + 60 + 1716) * 1000, abs=1)
    assert harness.validity_window_ms(86_400.0, 1000.0) < 7 * 86_400_000
    with pytest.raises(ValueError, match="more than the 7-day maximum"):
        harness.validity_window_ms(86_400.0, 10_000.0)
    args = argparse.Namespace(step_seconds=20.0, soak_seconds=600.0)
    assert harness.longest_run_s(args) == 600.0
    assert harness.longest_run_s(argparse.Namespace(step_seconds=20.0, soak_seconds=0.0)) == 20


def test_the_window_goes_into_the_bench_chains_genesis(tmp_path: Path) -> None:
    network = LocalNetwork(tmp_path / "net", validators=1)
    harness.set_validity_window(network.genesis_path, 2_400_000)
    assert load_genesis(network.genesis_path).limits.max_validity_window_ms == 2_400_000
    assert "max_validity_window" not in json.loads(network.genesis_path.read_text())["limits"]


def test_the_sampler_records_memory_cpu_and_the_store_file(tmp_path: Path) -> None:
    store = tmp_path / "data.mdb"
    store.write_bytes(b"x" * 10_000)
    sampler = harness.SoakSampler([os.getpid()], [store], interval_s=0.02)
    sampler.start()
    # until the sampler's thread has taken two ticks after the start's sample; the bound only
    # turns a hang into a clear failure
    deadline = time.monotonic() + 60.0
    while len(sampler.samples) < 3:
        if time.monotonic() > deadline:
            sampler.stop()
            pytest.fail(f"the sampler took {len(sampler.samples)} samples in 60 s, not 3")
        time.sleep(0.01)
    samples = sampler.stop()
    assert len(samples) >= 4  # at the start, at least two ticks, at the end
    times = [s["t_s"] for s in samples]
    assert times == sorted(times) and times[0] == 0.0 and times[2] >= 0.04
    (mine,) = samples[-1]["validators"]
    assert mine["rss_anon_bytes"] > 0 and mine["rss_file_bytes"] > 0
    assert mine["vm_rss_bytes"] >= mine["rss_anon_bytes"]
    assert mine["cpu_s"] >= 0 and mine["data_file_bytes"] == 10_000
    assert mine["data_file_allocated_bytes"] >= 8192
    assert harness.validator_sample(2**22 + 12345, store) is None  # no such process
