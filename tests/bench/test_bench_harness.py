"""The harness's own logic: the soak's sampler, its validity checks, its expected height rate."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench import harness


def soak_step(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "submitted": 6000,
        "rejected": {},
        "waited_for_chain_s": 0.0,
        "pool_exhausted": False,
    }
    values.update(overrides)
    return values


def test_a_soak_with_a_valid_load_has_no_problems() -> None:
    assert harness.soak_problems(soak_step(), rate=100.0, seconds=60.0) == []
    tiny = soak_step(rejected={"EXPIRED": 6, "MEMPOOL_FULL": 50})  # 0.1%: tolerated
    assert harness.soak_problems(tiny, 100.0, 60.0) == []


def test_a_soak_fails_on_validity_refusals_pauses_or_an_exhausted_pool() -> None:
    refused = soak_step(rejected={"EXPIRED": 4, "TOO_FAR_AHEAD": 3})
    assert harness.soak_problems(refused, 100.0, 60.0) == [
        "7 of 6000 transfers refused as EXPIRED or TOO_FAR_AHEAD (more than 0.1%)"
    ]
    (paused,) = harness.soak_problems(soak_step(waited_for_chain_s=0.7), 100.0, 60.0)
    assert paused.startswith("sending paused 0.7 s")
    (short,) = harness.soak_problems(soak_step(submitted=5000), 100.0, 60.0)
    assert short.startswith("sent 5000 of 6000 transfers")
    assert harness.soak_problems(soak_step(pool_exhausted=True), 100.0, 60.0)


def test_the_soak_expects_the_height_rate_of_the_step_at_its_load() -> None:
    steps = [
        {"committed_tps": 100.0, "heights_per_s": 20.0},
        {"committed_tps": 300.0, "heights_per_s": 9.0},
        {"committed_tps": 250.0, "heights_per_s": 7.0},
    ]
    assert harness.soak_heights_per_s(steps, {"step": {"heights_per_s": 8.0}}) == 8.5
    assert harness.soak_heights_per_s(steps, None) == 9.0  # the best step's
    assert harness.soak_heights_per_s(steps, {"step": {"heights_per_s": None}}) == 9.0


def test_the_sampler_records_memory_cpu_and_the_store_file(tmp_path: Path) -> None:
    store = tmp_path / "data.mdb"
    store.write_bytes(b"x" * 10_000)
    sampler = harness.SoakSampler([os.getpid()], [store], interval_s=0.05)
    sampler.start()
    time.sleep(0.18)
    samples = sampler.stop()
    assert 4 <= len(samples) <= 6  # at the start, every 0.05 s, at the end
    times = [s["t_s"] for s in samples]
    assert times == sorted(times) and times[0] == 0.0
    (mine,) = samples[-1]["validators"]
    assert mine["rss_anon_bytes"] > 0 and mine["rss_file_bytes"] > 0
    assert mine["vm_rss_bytes"] >= mine["rss_anon_bytes"]
    assert mine["cpu_s"] >= 0 and mine["data_file_bytes"] == 10_000
    assert mine["data_file_allocated_bytes"] >= 8192
    assert harness.validator_sample(2**22 + 12345, store) is None  # no such process
