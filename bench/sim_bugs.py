"""How fast the simulator finds each planted bug: first detecting seed, seeds run, and the wall
time until detection, on the hunt profiles of `sim.hunts` (those the planted-bug tests use).

    python bench/sim_bugs.py [--bug NAME] [--seeds N] [--json FILE]

With `--seeds N` each hunt also runs N seeds from its start (beyond the first detection) and
reports how many detect the bug (the detection rate) and whether the clean build passes them.
Uses time.perf_counter (bench/ is the only place wall time is measured). Single process.
"""

from __future__ import annotations

import argparse
import json
import time

from sim.config import BUGS
from sim.hunts import HUNTS, run


def measure(bug: str, extra_seeds: int) -> dict[str, object]:
    hunt = HUNTS[bug]
    seeds = range(hunt.seeds.start, hunt.seeds.start + max(len(hunt.seeds), extra_seeds))
    started = time.perf_counter()
    first: int | None = None
    first_wall_s: float | None = None
    reason = ""
    detected: list[int] = []
    clean_failures: list[int] = []
    for count, seed in enumerate(seeds, 1):
        result = run(seed, hunt.profile, (bug,))
        if result.outcome in hunt.detected:
            detected.append(seed)
            if first is None:
                first, first_wall_s = seed, time.perf_counter() - started
                reason = f"{result.outcome.value}: {result.reason}"
        if extra_seeds and run(seed, hunt.profile).outcome.failed:
            clean_failures.append(seed)
        if first is not None and count >= extra_seeds:
            break
    return {
        "bug": bug,
        "bound": f"{hunt.seeds.start}..{hunt.seeds.stop - 1}",
        "first_seed": first,
        "seeds_to_first": None if first is None else first - hunt.seeds.start + 1,
        "wall_s_to_first": None if first_wall_s is None else round(first_wall_s, 2),
        "within_bound": first is not None and first in hunt.seeds,
        "detected_seeds": detected,
        "seeds_run": count,
        "clean_failures": clean_failures if extra_seeds else None,
        "reason": reason[:160],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bug", choices=BUGS, action="append", help="only these bugs")
    parser.add_argument("--seeds", type=int, default=0, help="seeds per hunt for the rate")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    rows = [measure(bug, args.seeds) for bug in args.bug or sorted(HUNTS)]
    print(f"{'bug':26} {'bound':7} {'first':>5} {'tries':>5} {'wall s':>7}  detected / run")
    for row in rows:
        rate = f"{len(row['detected_seeds'])}/{row['seeds_run']}"  # type: ignore[arg-type]
        print(
            f"{row['bug']!s:26} {row['bound']!s:7} {row['first_seed']!s:>5} "
            f"{row['seeds_to_first']!s:>5} {row['wall_s_to_first']!s:>7}  {rate}"
            + (f"  clean failures {row['clean_failures']}" if args.seeds else "")
        )
        print(f"    {row['reason']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
