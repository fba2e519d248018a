"""Simulator speed: simulated heights per wall second per core, events per second, and the
ratio of virtual to wall time, for 4 validators with no faults, with the fast simulator-only
signature scheme and with real Ed25519 signatures; and seeds per hour of a default-config
(swarm) sweep on one core.

    python bench/sim_speed.py [--seconds VIRTUAL_SECONDS] [--seed N] [--seeds N]

Uses time.perf_counter (bench/ is the only place wall time is measured). Single process: the
figures are per core.
"""

from __future__ import annotations

import argparse
import time

from sim.result import RunSpec
from sim.runner import Simulation

CALM: dict[str, object] = {
    "validators": 4,
    "faults": (),
    "byzantine": (),
    "twins": (),
    "power_profile": "equal",
    "empty_block_interval_ms": 0,
    "tx_per_s": 0,
    "latency_min_ms": 2,
    "latency_mean_ms": 5,
}


def measure(seed: int, signatures: str, virtual_s: int, tx_per_s: int) -> dict[str, float]:
    overrides = {
        **CALM,
        "signatures": signatures,
        "safety_ms": virtual_s * 1000,
        "liveness_ms": 5_000,
        "tx_per_s": tx_per_s,
    }
    started = time.perf_counter()
    result = Simulation(RunSpec(seed, overrides)).run()
    wall = time.perf_counter() - started
    heights = result.min_height
    return {
        "heights": heights,
        "events": result.events,
        "wall_s": wall,
        "heights_per_s": heights / wall,
        "events_per_s": result.events / wall,
        "virtual_to_wall": result.virtual_ms / 1000 / wall,
        "outcome_ok": float(not result.outcome.failed),
    }


def sweep_rate(seeds: range) -> dict[str, float]:
    """A default-configuration sweep of `seeds` in this one process (no pool, no engine): what
    one core gets through, as seeds per hour. Swarm seeds differ widely in length (validators,
    faults, rounds), so the figure is an average over the range, not a property of one run."""
    outcomes: dict[str, int] = {}
    events = heights = virtual_ms = 0
    started, cpu = time.perf_counter(), time.process_time()
    for seed in seeds:
        result = Simulation(RunSpec(seed, {})).run()
        outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
        events += result.events
        heights += result.min_height
        virtual_ms += result.virtual_ms
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seeds": len(seeds),
        "first_seed": seeds.start,
        "wall_s": wall,
        "cpu_s": cpu,
        "seeds_per_hour": len(seeds) / wall * 3600,
        "seeds_per_cpu_hour": len(seeds) / cpu * 3600,
        "events_per_s": events / wall,
        "heights": heights,
        "virtual_to_wall": virtual_ms / 1000 / wall,
        "passed": outcomes.get("pass", 0),
        **{f"outcome {k}": v for k, v in sorted(outcomes.items()) if k != "pass"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="virtual seconds per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tx-per-s", type=int, default=0, help="client transactions per second")
    parser.add_argument("--seeds", type=int, default=20, help="default-config seeds to sweep")
    args = parser.parse_args()
    print(
        f"4 validators, no faults, {args.seconds} virtual s, {args.tx_per_s} tx/s, seed {args.seed}"
    )
    print(
        f"{'signatures':<10} {'heights':>8} {'wall s':>8} {'heights/s':>10} {'events/s':>10} "
        f"{'virtual:wall':>12}"
    )
    for signatures in ("fast", "ed25519"):
        m = measure(args.seed, signatures, args.seconds, args.tx_per_s)
        print(
            f"{signatures:<10} {m['heights']:>8.0f} {m['wall_s']:>8.2f} "
            f"{m['heights_per_s']:>10.1f} {m['events_per_s']:>10.0f} "
            f"{m['virtual_to_wall']:>11.1f}x" + ("" if m["outcome_ok"] else "  (FAILED)")
        )
    if args.seeds:
        sweep = sweep_rate(range(args.seeds))
        print(
            f"default sweep of seeds 0..{args.seeds - 1}: {sweep['wall_s']:.1f} s, "
            f"{sweep['seeds_per_hour']:.0f} seeds/hour on one core"
        )


if __name__ == "__main__":
    main()
