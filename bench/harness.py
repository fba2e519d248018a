"""`depositnet bench`: a local network, a load generator process, and one honest result.

Order of a run: the single-core Ed25519 verify rate (the ceiling), a fresh local network of
validator processes, onboarding, the saturation search (each step one `bench.loadgen` process),
a step at half the saturation load (the latency target), a step at the saturation load with
py-spy on validator 0 (where the CPU goes), an optional soak, the verify rate again, and the
machine's load average at both ends. Between steps the harness waits for every mempool to
empty, so no step inherits a backlog.

The soak is one load generator run of `--soak-seconds` at the saturation load, without gaps.
While it runs the harness samples, every SOAK_SAMPLE_S, each validator's RssAnon, RssFile and
VmRSS, its CPU seconds, and the size of its LMDB data file (`soak.samples`): the report judges
memory on RssAnon (the process's own memory), not on VmRSS, which also counts the mapped pages
of a store file that grows with every block. A soak whose load was not what it claims (sending
paused, fell behind its rate, or transfers were refused for their validity window) is marked
with `problems`.

Every transfer is signed before its step starts, valid until the chain's time then + the
chain's validity window (see `bench.loadgen`). The window is in chain time, which follows the
clocks, not the chain's height rate, so the bench chain's genesis only has to make it long
enough for the longest run: `validity_window_ms` sizes it from the longest step or soak and
the transfers to sign for it (at least the 10-minute default, at most the 7-day maximum).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio

from bench import profile_validator, report, saturation
from bench.ledger_throughput import key
from bench.loadgen import StepSpec
from bench.procinfo import cores, cpu_seconds, file_size, load_average, memory, node_pid
from consensus.crypto import ED25519
from ledger.genesis import MAX_VALIDITY_WINDOW_MS, Limits
from network.client import DepositClient
from network.config import load_config
from network.localnet import LocalNetwork
from network.node import NodeSettings, store_path
from network.testnet import onboard

ROOT = Path(__file__).resolve().parent.parent
SETTLE_TIMEOUT_S = 120.0
SOAK_SAMPLE_S = 10.0
SOAK_MAX_VALIDITY_REFUSED = 0.001  # of the soak's transfers, refused EXPIRED / TOO_FAR_AHEAD
SOAK_MAX_GAP_S = 1.0  # the longest the soak's sending may pause between two sends
SOAK_MIN_SENT = 0.99  # of the offered rate, else the load fell behind its schedule
DRAIN_S = 15.0  # a step's wait for its last commits (the load generator's default)
MIN_SIGN_TPS = 1000.0  # the slowest pre-signing the window allows for (7,400/s measured busy)
CHAIN_TIME_LAG_S = 60.0  # chain time trails the clock by up to the empty-block interval (1 s)


def verify_rates(samples: int = 4000, repeats: int = 3) -> dict[str, float]:
    """Single-core Ed25519 verify rate, best of `repeats`: per CPU second (the physical rate)
    and per wall second (what this shared machine gave one process just now). Like
    bench/ledger_throughput.py's `verify_rate`, which times wall clock only."""
    signer = key("verify")
    messages = [i.to_bytes(8, "big") * 16 for i in range(samples)]
    signed = [(m, signer.sign(m)) for m in messages]
    best_cpu = best_wall = 0.0
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        for message, signature in signed:
            if not ED25519.verify(signer.public_key, message, signature):
                raise AssertionError("a good signature did not verify")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        best_cpu, best_wall = max(best_cpu, samples / cpu), max(best_wall, samples / wall)
    return {"per_cpu_s": best_cpu, "per_wall_s": best_wall}


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def validity_window_ms(longest_s: float, max_rate: float) -> int:
    """The bench chain's validity window: long enough to sign the longest run's transfers at
    MIN_SIGN_TPS, run it and drain it, with chain time lagging the clock by CHAIN_TIME_LAG_S;
    never below the genesis default (10 minutes). ValueError beyond the 7-day maximum.
    `max_rate` bounds every step's and the soak's (the sustained rate, at most the highest
    step's committed rate, a little above its offered rate: 1.1x is allowed for)."""
    signing_s = 1.1 * max_rate * longest_s / MIN_SIGN_TPS
    needed_ms = math.ceil((longest_s + DRAIN_S + CHAIN_TIME_LAG_S + signing_s) * 1000)
    window = max(Limits().max_validity_window_ms, needed_ms)
    if window > MAX_VALIDITY_WINDOW_MS:
        raise ValueError(
            f"a run of {longest_s:g} s at up to {max_rate:g}/s needs a validity window of "
            f"{window / 3_600_000:.0f} h, more than the 7-day maximum"
        )
    return window


def set_validity_window(genesis_path: Path, window_ms: int) -> None:
    """Rewrite the (not yet used) genesis file with the bench's transaction validity window."""
    data = json.loads(genesis_path.read_text())
    data.setdefault("limits", {})["max_validity_window_ms"] = window_ms
    genesis_path.write_text(json.dumps(data, indent=2) + "\n")


class Bench:
    """One run against one network; `step(rate)` runs a loadgen process and returns its JSON."""

    def __init__(self, network: LocalNetwork, args: Any, work: Path, window_ms: int) -> None:
        self.network, self.args, self.work = network, args, work
        self.window_ms = window_ms  # the chain's transaction validity window
        self.pids = [node_pid(config) for config in network.layout.configs]
        self.store_files = [
            store_path(NodeSettings(data_dir=load_config(config).data_dir)) / "data.mdb"
            for config in network.layout.configs
        ]
        self.key_files = [
            str(network.keys_dir / f"{name}.key") for name in network.layout.participants
        ]
        self.count = 0

    def step(
        self,
        rate: float,
        seconds: float | None = None,
        on_measuring: Callable[[], object] = list,
    ) -> dict[str, Any]:
        """One loadgen run of `seconds` (default --step-seconds) at `rate`, after every mempool
        emptied; `on_measuring` is called when its measured window opens."""
        self.settle()
        self.count += 1
        spec = StepSpec(
            api_urls=self.network.api_urls,
            chain_id=self.network.genesis.chain_id,
            key_files=tuple(self.key_files),
            rate=rate,
            seconds=seconds or self.args.step_seconds,
            validity_window_ms=self.window_ms,
            currencies=tuple(c.code for c in self.network.genesis.currencies),
            drain_s=DRAIN_S,
            concurrency=self.args.concurrency,
            seed=self.args.seed * 1000 + self.count,
            batch=not self.args.no_batch,
            validator_pids=tuple(self.pids),
            follow_index=len(self.pids) - 1,  # not validator 0, the profiled one
        )
        spec_path = self.work / f"step{self.count}.json"
        out_path = self.work / f"step{self.count}.out.json"
        spec_path.write_text(json.dumps(_jsonable(spec)))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        command = [sys.executable, "-m", "bench.loadgen", "--spec", str(spec_path)]
        command += ["--out", str(out_path)]
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "measuring":
                on_measuring()
        if proc.wait() != 0:
            raise RuntimeError(f"the load generator failed (exit {proc.returncode})")
        result: dict[str, Any] = json.loads(out_path.read_text())
        print(_step_line(result), flush=True)
        return result

    def settle(self) -> None:
        """Wait until every validator's mempool is empty (or SETTLE_TIMEOUT_S passes)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        with httpx.Client(timeout=5.0) as http:
            while time.monotonic() < deadline:
                sizes = [
                    _mempool_txs(http.get(url + "/metrics").text) for url in self.network.api_urls
                ]
                if not any(sizes):
                    return
                time.sleep(0.5)
        print("warning: mempools did not empty before the next step", flush=True)

    def profiled_step(self, rate: float) -> dict[str, Any]:
        """A step with py-spy on validator 0; the step's JSON gains `profile`."""
        output = self.work / "profile.raw"
        recorder: list[subprocess.Popen[bytes]] = []

        def start() -> None:
            recorder.append(
                profile_validator.start_record(self.pids[0], self.args.step_seconds, output)
            )

        step = self.step(rate, None, start)
        if not recorder or recorder[0].wait() != 0 or not output.exists():
            err = recorder[0].stderr.read().decode() if recorder and recorder[0].stderr else ""
            step["profile_error"] = f"py-spy failed: {err.strip()[-300:]}"
            return step
        step["profile"] = profile_validator.load(output)
        return step

    def soak(self, rate: float, seconds: float) -> dict[str, Any]:
        """One loadgen run of `seconds` at `rate`; memory, CPU and store size sampled while it
        runs."""
        sampler = SoakSampler(self.pids, self.store_files, SOAK_SAMPLE_S)
        try:
            step = self.step(rate, seconds, sampler.start)
        finally:
            samples = sampler.stop()
        soak = {
            "seconds": seconds,
            "offered_tps": rate,
            "achieved_offered_tps": step["achieved_offered_tps"],
            "submitted": step["submitted"],
            "committed": step["committed"],
            "committed_tps": step["committed_tps"],
            "rejected": step["rejected"],
            "uncommitted": step["uncommitted"],
            "latency_p50_s": step["latency_p50_s"],
            "latency_p99_s": step["latency_p99_s"],
            "heights_per_s": step["heights_per_s"],
            "max_send_gap_s": step["max_send_gap_s"],
            "sample_interval_s": SOAK_SAMPLE_S,
            "store_files": [str(path) for path in self.store_files],
            "samples": samples,
            "step": step,
        }
        soak["problems"] = soak_problems(step, rate)
        return soak


def longest_run_s(args: Any) -> float:
    """The longest load generator run of a bench: a step or the soak."""
    return float(max(args.step_seconds, args.soak_seconds))


def soak_problems(step: dict[str, Any], rate: float) -> list[str]:
    """Why a soak's load was not what it claims: transfers refused for their validity window
    (more than a tiny fraction: with a window in chain time there should be none), sending
    paused (a gap between two sends longer than SOAK_MAX_GAP_S: the load generator was
    starved, or its request window stayed full), or sending fell behind the offered rate.
    Empty if none."""
    problems = []
    submitted = step["submitted"]
    window = sum(step["rejected"].get(code, 0) for code in ("EXPIRED", "TOO_FAR_AHEAD"))
    if window > SOAK_MAX_VALIDITY_REFUSED * max(submitted, 1):
        problems.append(
            f"{window} of {submitted} transfers refused as EXPIRED or TOO_FAR_AHEAD "
            f"(more than {SOAK_MAX_VALIDITY_REFUSED:.1%})"
        )
    gap = step.get("max_send_gap_s", 0.0)
    if gap > SOAK_MAX_GAP_S:
        problems.append(
            f"sending paused for {gap:.1f} s (more than {SOAK_MAX_GAP_S:g} s between two sends; "
            f"the request window was full {step.get('window_full', 0)} times)"
        )
    achieved = step["achieved_offered_tps"]
    if achieved < SOAK_MIN_SENT * rate:
        problems.append(
            f"sent {achieved:.0f}/s of the {rate:g}/s offered (less than {SOAK_MIN_SENT:.0%})"
        )
    return problems


class SoakSampler:
    """Samples the validators' memory, CPU and store file size every `interval_s` in a thread,
    from `start()` (the load generator's `measuring`) to `stop()`, and once at each end."""

    def __init__(self, pids: list[int], store_files: list[Path], interval_s: float) -> None:
        self.pids, self.store_files, self.interval_s = pids, store_files, interval_s
        self.samples: list[dict[str, Any]] = []
        self._started = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._started = time.monotonic()
        self.samples.append(self.sample())
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ticks = 1
        while not self._stop.wait(self._started + ticks * self.interval_s - time.monotonic()):
            self.samples.append(self.sample())
            ticks += 1

    def stop(self) -> list[dict[str, Any]]:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.samples.append(self.sample())
        return self.samples

    def sample(self) -> dict[str, Any]:
        return {
            "t_s": round(time.monotonic() - self._started, 2),
            "validators": [
                validator_sample(pid, path)
                for pid, path in zip(self.pids, self.store_files, strict=True)
            ],
        }


def validator_sample(pid: int, store_file: Path) -> dict[str, Any] | None:
    """One validator's memory by kind, CPU seconds and data file size; None if it is gone."""
    try:
        mem, cpu = memory(pid), cpu_seconds(pid)
    except OSError:
        return None
    size, allocated = file_size(store_file)
    return {
        "rss_anon_bytes": mem["RssAnon"],
        "rss_file_bytes": mem["RssFile"],
        "vm_rss_bytes": mem["VmRSS"],
        "cpu_s": round(cpu, 2),
        "data_file_bytes": size,
        "data_file_allocated_bytes": allocated,
    }


def _mempool_txs(metrics_text: str) -> int:
    for line in metrics_text.splitlines():
        if line.startswith("depositnet_mempool_txs "):
            return int(float(line.split()[1]))
    return 0


def _jsonable(spec: StepSpec) -> dict[str, Any]:
    import attrs

    return {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.asdict(spec).items()}


def _step_line(s: dict[str, Any]) -> str:
    p99 = s["latency_p99_s"]
    return (
        f"  offered {s['offered_tps']:7.1f}/s  sent {s['achieved_offered_tps']:7.1f}/s  "
        f"committed {s['committed_tps']:7.1f}/s  p99 "
        f"{'-' if p99 is None else f'{p99 * 1000:.0f} ms'}  uncommitted {s['uncommitted']}  "
        f"refused {sum(s['rejected'].values())}"
    )


def run(args: Any) -> dict[str, Any]:
    """The whole benchmark; returns the result (also written under `args.out`)."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load_start = load_average()
    print("measuring the single-core Ed25519 verify rate ...", flush=True)
    verify_start = verify_rates()
    with tempfile.TemporaryDirectory(prefix="depositnet-bench-") as tmp:
        work = Path(tmp)
        network = LocalNetwork(work / "net", validators=args.validators)
        window_ms = validity_window_ms(longest_run_s(args), max(args.rates))
        set_validity_window(network.genesis_path, window_ms)
        with network:
            network.start_all()
            trio.run(_onboard, network)
            result = _measure(Bench(network, args, work, window_ms), args)
    verify_end = verify_rates()
    verify = (verify_start["per_cpu_s"] + verify_end["per_cpu_s"]) / 2
    verify_wall = (verify_start["per_wall_s"] + verify_end["per_wall_s"]) / 2
    ceiling = cores() * verify / args.validators
    result["meta"] = {
        "date": started,
        "git_commit": git_commit(),
        "validators": args.validators,
        "cores": cores(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "validity_window_ms": window_ms,
        "step_seconds": args.step_seconds,
        "concurrency": args.concurrency,
        "python": sys.version.split()[0],
    }
    result["ceiling"] = {
        "verify_rate_start": verify_start,
        "verify_rate_end": verify_end,
        "verify_rate": verify,
        "ceiling_tps": ceiling,
        "verify_rate_wall": verify_wall,
        "ceiling_wall_tps": cores() * verify_wall / args.validators,
    }
    result["fraction_of_ceiling"] = result["sustained_tps"] / ceiling
    if result.get("profile"):
        result["profile"]["cpu_table"] = profile_validator.profile_cpu_table(
            result["profile"], verify, args.validators
        )
    if args.catchup_json:
        result["catchup"] = json.loads(Path(args.catchup_json).read_text())
    result["targets"] = report.targets(result)
    return result


async def _onboard(network: LocalNetwork) -> None:
    async with DepositClient(list(network.api_urls), network.genesis, timeout_s=10.0) as client:
        await onboard(client, network.layout.roles, network.layout.participants)


def _measure(bench: Bench, args: Any) -> dict[str, Any]:
    rates = args.rates
    print(f"saturation search over {rates} transfers/s, {args.step_seconds:g} s each", flush=True)
    steps = saturation.search(rates, bench.step)
    sustained = saturation.sustained_tps(steps)
    result: dict[str, Any] = {
        "steps": steps,
        "sustained_tps": sustained,
        "saturation_found": saturation.found_saturation(steps),
        "half_load": None,
        "profile": None,
        "soak": None,
    }
    if sustained <= 0:
        return result
    half = saturation.half_load(steps)
    print(f"half the saturation load: {half:g}/s", flush=True)
    result["half_load"] = bench.step(half)
    if profile_validator.pyspy_path() is not None and not args.no_profile:
        print(f"profiling validator 0 at {sustained:.0f}/s offered", flush=True)
        step = bench.profiled_step(round(sustained, 1))
        if "profile" in step:
            result["profile"] = {
                "validator": 0,
                "offered_tps": step["offered_tps"],
                "samples": step["profile"]["samples"],
                "breakdown": step["profile"]["breakdown"],
                "top_other": step["profile"]["top_other"],
                "cpu_per_transfer_s": (
                    step["validators"][0]["cpu_s"] / step["committed"]
                    if step["committed"]
                    else None
                ),
                "step": step,
            }
        else:
            result["profile_error"] = step.get("profile_error")
    if args.soak_seconds > 0:
        rate = round(sustained, 1)
        print(f"soak: {args.soak_seconds:g} s at {rate:g}/s offered", flush=True)
        result["soak"] = soak = bench.soak(rate, args.soak_seconds)
        for problem in soak["problems"]:
            print(f"SOAK FAILED: {problem}", flush=True)
    return result
