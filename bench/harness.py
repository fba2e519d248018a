"""`depositnet bench`: a local network, a load generator process, and one honest result.

Order of a run: the single-core Ed25519 verify rate (the ceiling), a fresh local network of
validator processes, onboarding, the saturation search (each step one `bench.loadgen` process),
a step at half the saturation load (the latency target), a step at the saturation load with
py-spy on validator 0 (where the CPU goes), an optional soak at the saturation load in chunks
(RSS at its start and end), the verify rate again, and the machine's load average at both ends.
Between steps the harness waits for every mempool to empty, so no step inherits a backlog.

The bench chain's genesis allows a longer validity window than the default 100 heights: every
transfer of a step is signed before the step starts, and at light load the chain makes more than
100 (near empty) blocks in a step. The window used is in the results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio

from bench import profile_validator, report, saturation
from bench.ledger_throughput import key
from bench.loadgen import StepSpec
from bench.procinfo import cores, load_average, node_pid, rss_bytes
from consensus.crypto import ED25519
from network.client import DepositClient
from network.localnet import LocalNetwork
from network.testnet import onboard

ROOT = Path(__file__).resolve().parent.parent
SETTLE_TIMEOUT_S = 120.0


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
        self.key_files = [
            str(network.keys_dir / f"{name}.key") for name in network.layout.participants
        ]
        self.count = 0

    def step(
        self, rate: float, seconds: float | None = None, on_measuring: Callable[[], object] = list
    ) -> dict[str, Any]:
        self.settle()
        self.count += 1
        spec = StepSpec(
            api_urls=self.network.api_urls,
            chain_id=self.network.genesis.chain_id,
            key_files=tuple(self.key_files),
            rate=rate,
            seconds=seconds or self.args.step_seconds,
            valid_for_heights=self.args.validity_window,
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

        step = self.step(rate, on_measuring=start)
        if not recorder or recorder[0].wait() != 0 or not output.exists():
            err = recorder[0].stderr.read().decode() if recorder and recorder[0].stderr else ""
            step["profile_error"] = f"py-spy failed: {err.strip()[-300:]}"
            return step
        step["profile"] = profile_validator.load(output)
        return step

    def soak(self, rate: float, seconds: float) -> dict[str, Any]:
        """Saturation load in chunks (each pre-signed) for `seconds`; RSS at start and end."""
        start_rss = [rss_bytes(pid) for pid in self.pids]
        chunks, done = [], 0.0
        while done < seconds:
            chunk = min(self.args.step_seconds, seconds - done)
            chunks.append(self.step(rate, chunk))
            done += chunk
        end_rss = [rss_bytes(pid) for pid in self.pids]
        committed = sum(c["committed"] for c in chunks)
        return {
            "seconds": seconds,
            "offered_tps": rate,
            "committed": committed,
            "committed_tps": committed / max(sum(c["wall_s"] for c in chunks), 1e-9),
            "validators": [
                {"rss_start_bytes": a, "rss_end_bytes": b}
                for a, b in zip(start_rss, end_rss, strict=True)
            ],
            "rss_by_chunk": [[v["rss_end_bytes"] for v in c["validators"]] for c in chunks],
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
        result["profile"]["cpu_table"] = profile_cpu_table(
            result["profile"], verify, args.validators
        )
    if args.catchup_json:
        result["catchup"] = json.loads(Path(args.catchup_json).read_text())
    result["targets"] = report.targets(result)
    return result


def profile_cpu_table(
    profile: dict[str, Any], verify_rate: float, validators: int
) -> dict[str, Any]:
    """The profiled step's CPU per committed transfer by category (see
    `profile_validator.cpu_table`): the heights are those of the step's measured window."""
    step = profile["step"]
    heights = step.get("window_heights") or step.get("heights")
    return profile_validator.cpu_table(
        profile["breakdown"],
        profile["cpu_per_transfer_s"] or 0.0,
        verify_rate,
        validators=validators,
        heights=heights[1] - heights[0] if heights else None,
        committed=step["committed"],
    )


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
        print(f"soak: {args.soak_seconds:g} s at {sustained:.0f}/s offered", flush=True)
        result["soak"] = bench.soak(round(sustained, 1), args.soak_seconds)
    return result
