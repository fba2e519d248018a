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
of a store file that grows with every block. A soak that sent transfers outside their validity
window, paused for the chain or ran out of pre-signed transfers is marked with `problems`.

Every transfer is signed before its step starts, with a valid_until_height that rises along the
send order at a rate the chain is expected to keep (see `bench.loadgen`), so the chain's
validity window can stay a few hundred heights (`--validity-window`, default 400, written into
the bench chain's genesis): each step passes the load generator the height rate of the step
before it (and the soak that of the profiled step at its own load) as a range of expected rates.
"""

from __future__ import annotations

import json
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
from network.client import DepositClient
from network.config import load_config
from network.localnet import LocalNetwork
from network.node import NodeSettings, store_path
from network.testnet import onboard

ROOT = Path(__file__).resolve().parent.parent
SETTLE_TIMEOUT_S = 120.0
SOAK_SAMPLE_S = 10.0
STEP_RATE_RANGE = (0.4, 1.5)  # a step's expected heights/s, x the previous step's
# The soak's height rate, x the rate measured at its load: at saturation heights slow down as
# blocks grow (a 600 s soak expecting 0.6-1.6 x ran at 0.5 x, and its sender paused).
SOAK_RATE_RANGE = (0.4, 1.3)
SOAK_MAX_VALIDITY_REFUSED = 0.001  # of the soak's transfers, refused EXPIRED / TOO_FAR_AHEAD
SOAK_MAX_PAUSED = 0.01  # of the soak's seconds, spent waiting for the chain
SOAK_MIN_SENT = 0.99  # of rate x seconds, else the pool of signed transfers ran out


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


def set_validity_window(genesis_path: Path, heights: int) -> None:
    """Rewrite the (not yet used) genesis file with a longer transaction validity window."""
    data = json.loads(genesis_path.read_text())
    data.setdefault("limits", {})["max_validity_window"] = heights
    genesis_path.write_text(json.dumps(data, indent=2) + "\n")


class Bench:
    """One run against one network; `step(rate)` runs a loadgen process and returns its JSON."""

    def __init__(self, network: LocalNetwork, args: Any, work: Path) -> None:
        self.network, self.args, self.work = network, args, work
        self.pids = [node_pid(config) for config in network.layout.configs]
        self.store_files = [
            store_path(NodeSettings(data_dir=load_config(config).data_dir)) / "data.mdb"
            for config in network.layout.configs
        ]
        self.key_files = [
            str(network.keys_dir / f"{name}.key") for name in network.layout.participants
        ]
        self.count = 0
        self.heights_per_s: float | None = None  # the last step's, while it sent

    def step(
        self,
        rate: float,
        seconds: float | None = None,
        on_measuring: Callable[[], object] = list,
        heights_per_s: tuple[float, float] | None = None,
    ) -> dict[str, Any]:
        """One loadgen run, run again once if the chain's height rate was outside the expected
        range (the sender then had to wait for the chain or ran out of transfers, which would
        show as a starved load generator, not as the validators' limit). The retry expects
        STEP_RATE_RANGE x the rate just measured at this load."""
        result = self._run_step(rate, seconds, on_measuring, heights_per_s)
        if not needs_retry(result, seconds or self.args.step_seconds):
            return result
        measured = result.get("heights_per_s") or 0.0
        if measured <= 0:
            return result
        print(
            f"  the chain made {measured:.1f} heights/s, outside the expected range: "
            "running the step again with that rate",
            flush=True,
        )
        again = (STEP_RATE_RANGE[0] * measured, STEP_RATE_RANGE[1] * measured)
        retried = self._run_step(rate, seconds, on_measuring, again)
        retried["retried_after"] = {
            k: result.get(k) for k in ("heights_per_s", "waited_for_chain_s", "pool_exhausted")
        }
        return retried

    def _run_step(
        self,
        rate: float,
        seconds: float | None,
        on_measuring: Callable[[], object],
        heights_per_s: tuple[float, float] | None,
    ) -> dict[str, Any]:
        """One loadgen run. `heights_per_s`: the slowest and fastest height rate expected; by
        default STEP_RATE_RANGE x the last step's (the load generator measures the idle chain
        for the first)."""
        self.settle()
        self.count += 1
        if heights_per_s is None and self.heights_per_s:
            heights_per_s = (
                STEP_RATE_RANGE[0] * self.heights_per_s,
                STEP_RATE_RANGE[1] * self.heights_per_s,
            )
        low, high = heights_per_s or (0.0, 0.0)
        spec = StepSpec(
            api_urls=self.network.api_urls,
            chain_id=self.network.genesis.chain_id,
            key_files=tuple(self.key_files),
            rate=rate,
            seconds=seconds or self.args.step_seconds,
            valid_for_heights=self.args.validity_window,
            heights_per_s_low=low,
            heights_per_s_high=high,
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
        if result.get("heights_per_s"):
            self.heights_per_s = result["heights_per_s"]
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

        step = self._run_step(rate, None, start, None)  # one py-spy recording: no retry
        if not recorder or recorder[0].wait() != 0 or not output.exists():
            err = recorder[0].stderr.read().decode() if recorder and recorder[0].stderr else ""
            step["profile_error"] = f"py-spy failed: {err.strip()[-300:]}"
            return step
        step["profile"] = profile_validator.load(output)
        return step

    def soak(self, rate: float, seconds: float, heights_per_s: float) -> dict[str, Any]:
        """One loadgen run of `seconds` at `rate`, the chain expected at about `heights_per_s`
        (SOAK_RATE_RANGE of it); memory, CPU and store size sampled while it runs."""
        sampler = SoakSampler(self.pids, self.store_files, SOAK_SAMPLE_S)
        expected = (SOAK_RATE_RANGE[0] * heights_per_s, SOAK_RATE_RANGE[1] * heights_per_s)
        try:
            step = self._run_step(rate, seconds, sampler.start, expected)  # sampled once: no retry
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
            "heights_per_s_expected": heights_per_s,
            "heights_per_s_range": list(expected),
            "heights_per_s": step["heights_per_s"],
            "sample_interval_s": SOAK_SAMPLE_S,
            "store_files": [str(path) for path in self.store_files],
            "samples": samples,
            "step": step,
        }
        soak["problems"] = soak_problems(step, rate, seconds)
        return soak


def soak_problems(step: dict[str, Any], rate: float, seconds: float) -> list[str]:
    """Why a soak's load was not what it claims: transfers refused for their validity window
    (more than a tiny fraction), sending paused for the chain, or the pool of pre-signed
    transfers exhausted before the end. Empty if none."""
    problems = []
    submitted = step["submitted"]
    window = sum(step["rejected"].get(code, 0) for code in ("EXPIRED", "TOO_FAR_AHEAD"))
    if window > SOAK_MAX_VALIDITY_REFUSED * max(submitted, 1):
        problems.append(
            f"{window} of {submitted} transfers refused as EXPIRED or TOO_FAR_AHEAD "
            f"(more than {SOAK_MAX_VALIDITY_REFUSED:.1%})"
        )
    paused = step.get("waited_for_chain_s", 0.0)
    if paused > SOAK_MAX_PAUSED * seconds:
        problems.append(
            f"sending paused {paused:.1f} s waiting for the chain to reach the pre-signed "
            "transfers' heights (the chain was slower than expected)"
        )
    if step.get("pool_exhausted") or submitted < SOAK_MIN_SENT * rate * seconds:
        problems.append(
            f"sent {submitted} of {round(rate * seconds)} transfers: the pre-signed pool ran out "
            "(the chain was faster than expected)"
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


def needs_retry(step: dict[str, Any], seconds: float) -> bool:
    """True if the load generator waited for the chain (> 2% of the step) or ran out of
    pre-signed transfers: the chain's height rate was outside what the step expected."""
    waited = float(step.get("waited_for_chain_s") or 0.0)
    return bool(step.get("pool_exhausted")) or waited > 0.02 * seconds


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
        set_validity_window(network.genesis_path, args.validity_window)
        with network:
            network.start_all()
            trio.run(_onboard, network)
            result = _measure(Bench(network, args, work), args)
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
        "validity_window": args.validity_window,
        "expected_heights_per_s": {
            "steps": f"{STEP_RATE_RANGE[0]}-{STEP_RATE_RANGE[1]} x the previous step's",
            "soak": f"{SOAK_RATE_RANGE[0]}-{SOAK_RATE_RANGE[1]} x the rate at its load",
        },
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
        heights_per_s = soak_heights_per_s(steps, result["profile"])
        print(
            f"soak: {args.soak_seconds:g} s at {rate:g}/s offered, the chain expected at "
            f"{heights_per_s:.1f} heights/s",
            flush=True,
        )
        result["soak"] = soak = bench.soak(rate, args.soak_seconds, heights_per_s)
        for problem in soak["problems"]:
            print(f"SOAK FAILED: {problem}", flush=True)
    return result


def soak_heights_per_s(steps: list[dict[str, Any]], profile: dict[str, Any] | None) -> float:
    """The chain's height rate at the soak's load: the mean of the rates while the profiled
    step (the same offered load, validator 0 slowed a little by py-spy) and the search's best
    step sent. On this shared machine two runs at one load differ by a third: the soak's
    SOAK_RATE_RANGE is wide for that reason, and costs pre-signing (range high / low times
    the soak's transfers for a long soak)."""
    best = max(steps, key=lambda s: s["committed_tps"])
    rates = [s.get("heights_per_s") for s in (best, profile["step"] if profile else {})]
    known = [float(r) for r in rates if r]
    if not known:
        raise RuntimeError("no step measured the chain's height rate for the soak")
    return sum(known) / len(known)
