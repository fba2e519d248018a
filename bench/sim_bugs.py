"""How fast the simulator finds each planted bug.

    python bench/sim_bugs.py [--bug NAME] [--class CLASS] [--budget-s S] [--json FILE]
    python bench/sim_bugs.py --hunts [--bug NAME] [--seeds N] [--json FILE]

Default (swarm) mode: for every bug of `sim.planted.CATALOGUE`, run the *default* swarm seeds
0, 1, 2, ... (each seed derives its whole configuration, as `depositnet sim sweep` does) with
the bug planted, until a run fails and the clean build passes that same seed; report the
detecting seed, seeds tried and wall seconds, and the median over bugs. A seed whose clean run
fails too is a clean failure (a simulator or product bug), reported and skipped. `--budget-s`
bounds the search per bug. Single process, one core: Simulation runs back to back.

`--hunts` mode: the hand-picked profiles of `sim.hunts` (what the planted-bug tests use), with
`--seeds N` also running N seeds per hunt for the detection rate.

Uses time.perf_counter (bench/ is the only place wall time is measured).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

from sim.catch import attempts
from sim.config import BUGS
from sim.hunts import HUNTS, run
from sim.planted import BY_NAME, CATALOGUE, CLASSES


def hunt_row(bug: str, extra_seeds: int) -> dict[str, object]:
    """A hunt-profile search (the original mode)."""
    hunt = HUNTS[bug]
    seeds = range(hunt.seeds.start, hunt.seeds.start + max(len(hunt.seeds), extra_seeds))
    started = time.perf_counter()
    first: int | None = None
    first_wall_s: float | None = None
    reason = ""
    detected: list[int] = []
    clean_failures: list[int] = []
    count = 0
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


def swarm_row(bug: str, budget_s: float, start: int) -> dict[str, object]:
    """Default swarm seeds from `start` until the bug is caught or `budget_s` runs out."""
    started = time.perf_counter()
    clean_failures: list[str] = []
    tried = 0
    for attempt in attempts(bug, itertools.count(start)):
        tried += 1
        if attempt.caught:
            result = attempt.planted
            return {
                "bug": bug,
                "class": BY_NAME[bug].klass,
                "caught": True,
                "first_seed": attempt.seed,
                "seeds_tried": tried,
                "wall_s": round(time.perf_counter() - started, 2),
                "reason": f"{result.outcome.value}: {result.reason}"[:200],
                "reproduce": result.spec.command(),
                "clean_failures": clean_failures,
            }
        if attempt.clean is not None:
            clean_failures.append(attempt.clean.summary_line().splitlines()[0])
        if time.perf_counter() - started >= budget_s:
            break
    return {
        "bug": bug,
        "class": BY_NAME[bug].klass,
        "caught": False,
        "first_seed": None,
        "seeds_tried": tried,
        "wall_s": round(time.perf_counter() - started, 2),
        "reason": "",
        "reproduce": "",
        "clean_failures": clean_failures,
    }


def _swarm(args: argparse.Namespace) -> list[dict[str, object]]:
    names = args.bug or [b.name for b in CATALOGUE if not args.klass or b.klass in args.klass]
    rows = []
    print(f"{'bug':32} {'class':9} {'seed':>5} {'tries':>5} {'wall s':>7}")
    for name in names:
        row = swarm_row(name, args.budget_s, args.start)
        rows.append(row)
        seed = row["first_seed"] if row["caught"] else "MISS"
        print(
            f"{name:32} {row['class']!s:9} {seed!s:>5} {row['seeds_tried']!s:>5} "
            f"{row['wall_s']!s:>7}  {row['reason']}",
            flush=True,
        )
        for line in row["clean_failures"]:  # type: ignore[attr-defined]
            print(f"    clean failure: {line}")
    caught = [r for r in rows if r["caught"]]
    walls = [float(r["wall_s"]) for r in caught]  # type: ignore[arg-type]
    median = statistics.median(walls) if walls else None
    print(f"caught {len(caught)}/{len(rows)}; median wall to detection {median} s (one core)")
    return rows


def _hunts(args: argparse.Namespace) -> list[dict[str, object]]:
    rows = [hunt_row(bug, args.seeds) for bug in args.bug or sorted(HUNTS)]
    print(f"{'bug':26} {'bound':7} {'first':>5} {'tries':>5} {'wall s':>7}  detected / run")
    for row in rows:
        rate = f"{len(row['detected_seeds'])}/{row['seeds_run']}"  # type: ignore[arg-type]
        print(
            f"{row['bug']!s:26} {row['bound']!s:7} {row['first_seed']!s:>5} "
            f"{row['seeds_to_first']!s:>5} {row['wall_s_to_first']!s:>7}  {rate}"
            + (f"  clean failures {row['clean_failures']}" if args.seeds else "")
        )
        print(f"    {row['reason']}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bug", choices=BUGS, action="append", help="only these bugs")
    parser.add_argument("--class", dest="klass", choices=CLASSES, action="append")
    parser.add_argument("--budget-s", type=float, default=240.0, help="search time per bug")
    parser.add_argument("--start", type=int, default=0, help="first swarm seed")
    parser.add_argument("--hunts", action="store_true", help="the hand-picked hunt profiles")
    parser.add_argument("--seeds", type=int, default=0, help="--hunts: seeds per hunt")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    if args.hunts and args.bug and not set(args.bug) <= set(HUNTS):
        parser.error("--hunts covers only the core bugs: " + ", ".join(sorted(HUNTS)))
    rows = _hunts(args) if args.hunts else _swarm(args)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
