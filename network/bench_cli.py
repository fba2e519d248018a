"""`depositnet bench`: benchmarks anyone can rerun, measured beside the physical limit.

    depositnet bench [--validators 4] [--steps 100,200,400] [--step-seconds S]
                     [--soak-seconds S] [--out bench/results]
    depositnet bench sim [--seconds VIRTUAL_S] [--seeds N]   the simulator's speed
    depositnet bench catchup [--blocks 10000]       a lagging validator's catch-up speed

The harness lives in `bench/` of a source checkout (it is not installed with the package), so
this module only parses arguments and puts the checkout on `sys.path`. A soak whose load was
not what it claims (see `bench.harness.soak_problems`) makes the exit status 1, after the
results are written. The bench chain's transaction validity window (chain time) is sized to
the longest step or soak (`bench.harness.validity_window_ms`), so it takes no option.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from depositnet.cli import CommandError

ROOT = Path(__file__).resolve().parent.parent
MAX_RUN_S = 86_400  # a step or soak of at most a day (its transfers are all signed before it)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = subparsers.add_parser(
        "bench", help="measure throughput, latency and CPU of a local network (source checkout)"
    )
    bench.add_argument("--validators", type=int, default=4, metavar="N")
    bench.add_argument("--steps", help="offered transfers/s per step, e.g. 100,200,400")
    bench.add_argument("--start-rate", type=float, default=100.0, metavar="TPS")
    bench.add_argument("--factor", type=float, default=1.5, help="rate growth between steps")
    bench.add_argument("--max-steps", type=int, default=8)
    bench.add_argument("--step-seconds", type=float, default=20.0, metavar="S")
    bench.add_argument("--soak-seconds", type=float, default=0.0, metavar="S")
    bench.add_argument("--concurrency", type=int, default=256, help="requests in flight at most")
    bench.add_argument("--seed", type=int, default=1)
    bench.add_argument("--no-batch", action="store_true", help="never try POST /txs/batch")
    bench.add_argument("--no-profile", action="store_true", help="skip the py-spy profile")
    bench.add_argument("--catchup-json", help="fold a `bench catchup` result into the targets")
    bench.add_argument("--out", default="bench/results", metavar="DIR")
    bench.set_defaults(func=_run_network)
    kinds = bench.add_subparsers(dest="bench_kind", metavar="KIND")
    sim = kinds.add_parser("sim", help="simulated heights per second, fast and real signatures")
    sim.add_argument("--seconds", type=int, default=20, help="virtual seconds per run")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--tx-per-s", type=int, default=0)
    sim.add_argument(
        "--seeds", type=int, default=20, metavar="N", help="default-config seeds to sweep (0: none)"
    )
    sim.add_argument("--out", default="bench/results", metavar="DIR")
    sim.set_defaults(func=_run_sim)
    catchup = kinds.add_parser("catchup", help="how fast a validator that missed blocks recovers")
    catchup.add_argument("--blocks", type=int, default=10_000)
    catchup.add_argument("--validators", type=int, default=4, metavar="N")
    catchup.add_argument("--out", default="bench/results", metavar="DIR")
    catchup.set_defaults(func=_run_catchup)


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the validators this run started are stopped too."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _harness(name: str) -> Any:
    """Import `bench.NAME` from the source checkout this package runs from."""
    if not (ROOT / "bench" / "loadgen.py").exists():
        raise CommandError("depositnet bench needs a source checkout (bench/ is not installed)")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"bench.{name}")


def _stem(kind: str) -> str:
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def _run_network(args: argparse.Namespace) -> int:
    saturation = _harness("saturation")
    if not 1 <= args.validators <= 16:
        raise CommandError(f"--validators: expected 1..16, got {args.validators}")
    if not 0 < args.step_seconds <= MAX_RUN_S:
        raise CommandError(f"--step-seconds: expected 0 < S <= {MAX_RUN_S}")
    if not 0 <= args.soak_seconds <= MAX_RUN_S:
        raise CommandError(f"--soak-seconds: expected 0..{MAX_RUN_S}")
    if args.concurrency < 1:
        raise CommandError("--concurrency must be positive")
    harness, report = _harness("harness"), _harness("report")
    try:
        if args.steps:
            args.rates = saturation.parse_rates(args.steps)
        else:
            args.rates = saturation.geometric_rates(args.start_rate, args.factor, args.max_steps)
        harness.validity_window_ms(harness.longest_run_s(args), max(args.rates))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    _stop_on_sigterm()
    result = harness.run(args)
    paths = report.write(result, Path(args.out), _stem("network"))
    print()
    print(report.markdown(result))
    print("wrote " + ", ".join(str(p) for p in paths))
    problems = (result.get("soak") or {}).get("problems") or []
    if problems:
        print(
            "depositnet: error: the soak's load was not valid: " + "; ".join(problems),
            file=sys.stderr,
        )
        return 1
    return 0


def _run_sim(args: argparse.Namespace) -> int:
    try:
        sim_speed = _harness("sim_speed")
    except ImportError as exc:
        raise CommandError(f"the simulator benchmark is not available: {exc}") from None
    if args.seconds < 1 or args.seeds < 0:
        raise CommandError("--seconds must be positive and --seeds >= 0")
    _stop_on_sigterm()
    runs = {}
    load_start = os.getloadavg()
    for signatures in ("fast", "ed25519"):
        print(f"simulating {args.seconds} virtual s with {signatures} signatures ...", flush=True)
        cpu = time.process_time()
        m = sim_speed.measure(args.seed, signatures, args.seconds, args.tx_per_s)
        m["cpu_s"] = time.process_time() - cpu
        m["heights_per_cpu_s"] = m["heights"] / m["cpu_s"]
        m["virtual_to_cpu"] = args.seconds / m["cpu_s"]
        runs[signatures] = m
    lines = [
        "| signatures | heights | wall s | CPU s | heights/s per core (wall) | heights per CPU s "
        "| virtual:wall | virtual:CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in runs.items():
        lines.append(
            f"| {name} | {m['heights']:.0f} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} "
            f"| {m['heights_per_s']:.1f} | {m['heights_per_cpu_s']:.1f} "
            f"| {m['virtual_to_wall']:.1f}x | {m['virtual_to_cpu']:.1f}x |"
        )
    sweep = None
    if args.seeds:
        print(f"sweeping default-config seeds 0..{args.seeds - 1} on one core ...", flush=True)
        sweep = sim_speed.sweep_rate(range(args.seeds))
        lines += [
            "",
            "| default sweep | seeds | passed | wall s | CPU s | seeds/hour (wall) "
            "| seeds per CPU hour | events/s | virtual:wall |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| seeds 0..{args.seeds - 1}, one process | {sweep['seeds']:.0f} "
            f"| {sweep['passed']:.0f} | {sweep['wall_s']:.1f} | {sweep['cpu_s']:.1f} "
            f"| {sweep['seeds_per_hour']:.0f} | {sweep['seeds_per_cpu_hour']:.0f} "
            f"| {sweep['events_per_s']:.0f} | {sweep['virtual_to_wall']:.1f}x |",
        ]
    meta = {
        "seconds": args.seconds,
        "seed": args.seed,
        "tx_per_s": args.tx_per_s,
        "seeds": args.seeds,
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = _stem("sim")
    (out / f"{stem}.json").write_text(
        json.dumps({"meta": meta, "runs": runs, "sweep": sweep}, indent=2)
    )
    header = (
        f"# depositnet bench sim\n\n4 validators, no faults, {args.seconds} virtual s, seed "
        f"{args.seed}; one process (so per core); load average {meta['load_average_start']} "
        f"at start, {meta['load_average_end']} at end.\n\n"
    )
    (out / f"{stem}.md").write_text(header + "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out / stem}.json and .md")
    return 0


def _run_catchup(args: argparse.Namespace) -> int:
    catchup = _harness("catchup")
    if args.blocks < 1:
        raise CommandError("--blocks must be positive")
    _stop_on_sigterm()
    result = catchup.run(args.blocks, args.validators)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{_stem('catchup')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"live {result['live_blocks_per_s']:.1f} blocks/s, catch-up "
        f"{result['catchup_blocks_per_s']:.1f} blocks/s: {result['speedup']:.1f}x "
        f"(target 5x); wrote {path}"
    )
    return 0
