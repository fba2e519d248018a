"""`depositnet sim sweep` on a real Dask cluster: two local worker processes, a handful of seeds.

One cluster serves the module (started once, ~1 s); the command line reaches it through
`--scheduler`, the path a sweep over many machines takes.
"""

from __future__ import annotations

import faulthandler
import json
import re
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client

from depositnet.cli import main
from sim.result import Outcome, RunResult, RunSpec
from sim.sweep import run_spec
from sim.sweep_engine import _remote, local_cluster, stream

QUICK = ["--set", "validators=4", "--set", "safety_ms=800", "--set", "byzantine=none"]
QUICK_OVERRIDES: dict[str, object] = {"validators": 4, "safety_ms": 800, "byzantine": ()}
HUNGRY_SEED = 2


MODULE_LIMIT_S = 900
"""Far above what this module takes on a loaded machine (about 10 s). Dask's start-up once hung
in a full run; past this limit the test process prints every thread's stack and exits, so CI
fails with a trace in minutes instead of spending its whole budget."""


@pytest.fixture(scope="module", autouse=True)
def watchdog() -> Iterator[None]:
    faulthandler.dump_traceback_later(MODULE_LIMIT_S, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with local_cluster(2, "1GiB") as cluster:
        yield cluster


def _digest_of_local_replay(line: str, capsys: pytest.CaptureFixture[str]) -> str:
    argv = shlex.split(line)
    assert argv[:3] == ["depositnet", "sim", "run"]
    main(argv[1:])
    out = capsys.readouterr().out
    match = re.search(r"^trace digest\s+(\w+)$", out, re.MULTILINE)
    assert match is not None, out
    return match.group(1)


def test_failing_seeds_of_a_cluster_sweep_replay_locally_bit_for_bit(
    cluster: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sim", "sweep", "--seeds", "0..3", "--scheduler", cluster.scheduler_address]
    argv += [*QUICK, "--bug", "send_before_persist", "--out", str(tmp_path)]
    assert main(argv) == Outcome.SAFETY.exit_code
    capsys.readouterr()
    (json_path,) = tmp_path.glob("sweep-*.json")
    (md_path,) = tmp_path.glob("sweep-*.md")
    data = json.loads(json_path.read_text())
    assert [row["seed"] for row in data["runs"]] == [0, 1, 2, 3]
    assert data["seeds"] == 4 and data["seeds_per_hour"] > 0 and data["workers"] == 2
    assert data["failures"], "send_before_persist is caught on seed 0 (tests/sim/test_cli.py)"
    markdown = md_path.read_text()
    for failure in data["failures"]:
        assert failure["reproduce"] in markdown
        assert "bugs=send_before_persist" in failure["reproduce"]
        # The local replay (another process's hash seed, no Dask) traces the same events.
        assert _digest_of_local_replay(failure["reproduce"], capsys) == failure["digest"]


def _hungry(spec: RunSpec) -> RunResult:
    """A run that grows without bound on one seed, as a memory-leaking run would."""
    if spec.seed != HUNGRY_SEED:
        return run_spec(spec)
    hoard = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the nanny kills the worker at 95% of its 1 GiB
        if len(hoard) < 64:
            hoard.append(bytearray(64 << 20))
        time.sleep(0.01)
    raise AssertionError("the worker was not killed")


def test_a_worker_dying_mid_run_costs_only_its_seed(cluster: Any) -> None:
    results: list[RunResult] = []
    with Client(cluster) as client:
        specs = [RunSpec(seed, QUICK_OVERRIDES) for seed in range(5)]
        stream(client, specs, results.append, task=_hungry, window=2)
        client.wait_for_workers(2, timeout=60)  # the nanny restarted it
    by_seed = {r.spec.seed: r for r in results}
    assert sorted(by_seed) == [0, 1, 2, 3, 4]
    dead = by_seed.pop(HUNGRY_SEED)
    assert dead.outcome is Outcome.CRASH and "worker process died" in dead.reason
    assert dead.spec.command().startswith(f"depositnet sim run --seed {HUNGRY_SEED} ")
    assert all(r.outcome is Outcome.PASS and r.events > 0 for r in by_seed.values())


def test_one_run_at_a_time_per_process_even_with_many_threads() -> None:
    """Planted bugs patch functions process-wide, so two runs must never overlap in a process."""
    inside = [0]
    overlaps = []

    def task(spec: RunSpec) -> RunResult:
        inside[0] += 1
        overlaps.append(inside[0])
        time.sleep(0.01)
        inside[0] -= 1
        return run_spec(spec)

    spec = RunSpec(1, {**QUICK_OVERRIDES, "safety_ms": 100})
    threads = [threading.Thread(target=_remote, args=(task, spec)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [1, 1, 1, 1]


def test_a_patch_planted_bug_is_planted_per_run_in_the_workers(cluster: Any) -> None:
    """`send_before_durable` patches the executor for its own run only: the same worker
    processes then run the clean build, which must not see the patch."""
    profile: dict[str, object] = {
        "validators": 4,
        "faults": ("storage",),
        "byzantine": (),
        "twins": (),
        "safety_ms": 1000,
    }
    planted = [RunSpec(seed, {**profile, "bugs": ("send_before_durable",)}) for seed in (1, 3)]
    clean = [RunSpec(seed, profile) for seed in (1, 3)]
    results: list[RunResult] = []
    with Client(cluster) as client:
        stream(client, [planted[0], clean[0], planted[1], clean[1]], results.append, window=2)
    by_spec = {(r.spec.seed, "bugs" in r.spec.overrides): r for r in results}
    for seed in (1, 3):
        caught = by_spec[(seed, True)]
        assert caught.outcome is Outcome.SAFETY and "before persisting" in caught.reason
        assert by_spec[(seed, False)].outcome is Outcome.PASS
