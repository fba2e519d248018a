"""Many seeds, in parallel processes: runs are fully independent, so they scale by process.

`sweep` runs every seed of a range (with the same overrides) on `workers` processes and
returns the results in seed order; `summarize` turns them into the numbers researchers report:
outcome counts, heights, faults injected, simulated events per wall second, and the ratio of
virtual to wall time. `to_text` and `to_json` format a summary.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping

import attrs

from sim.result import Outcome, RunResult, RunSpec
from sim.runner import Simulation


def run_spec(spec: RunSpec) -> RunResult:
    """Run one spec (module-level so worker processes can import it)."""
    return Simulation(spec).run()


def parse_seeds(text: str) -> range:
    """`A..B` (inclusive) or a single seed `A`; ValueError otherwise."""
    first, sep, last = text.partition("..")
    try:
        start = int(first)
        stop = int(last) if sep else start
    except ValueError:
        raise ValueError(f"seeds: expected A..B or A, got {text!r}") from None
    if start < 0 or stop < start:
        raise ValueError(f"seeds: expected 0 <= A <= B, got {text!r}")
    return range(start, stop + 1)


def sweep(
    seeds: Iterable[int],
    overrides: Mapping[str, object] | None = None,
    *,
    workers: int = 1,
    on_result: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run every seed; `on_result` sees each result as it arrives (any order)."""
    specs = [RunSpec(seed, dict(overrides or {})) for seed in seeds]
    results: list[RunResult] = []
    if workers <= 1:
        for spec in specs:
            result = run_spec(spec)
            results.append(result)
            if on_result is not None:
                on_result(result)
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for result in pool.imap_unordered(run_spec, specs, chunksize=1):
                results.append(result)
                if on_result is not None:
                    on_result(result)
    return sorted(results, key=lambda r: r.spec.seed)


@attrs.frozen
class Summary:
    seeds: int
    outcomes: dict[str, int]
    heights_total: int
    heights_min: int
    heights_max: int
    faults: dict[str, int]
    events: int
    virtual_ms: int
    cpu_s: float  # sum of the runs' wall times (process time spent simulating)
    wall_s: float  # elapsed for the whole sweep
    failures: tuple[str, ...]  # one summary line (with its reproduction) per failing seed

    @property
    def events_per_s(self) -> float:
        return self.events / self.cpu_s if self.cpu_s else 0.0

    @property
    def virtual_to_wall(self) -> float:
        return self.virtual_ms / 1000 / self.cpu_s if self.cpu_s else 0.0


def summarize(results: list[RunResult], wall_s: float) -> Summary:
    outcomes = {o.value: 0 for o in Outcome}
    faults: dict[str, int] = {}
    for r in results:
        outcomes[r.outcome.value] += 1
        for key, value in r.faults.items():
            faults[key] = faults.get(key, 0) + value
    heights = [r.min_height for r in results] or [0]
    return Summary(
        seeds=len(results),
        outcomes=outcomes,
        heights_total=sum(heights),
        heights_min=min(heights),
        heights_max=max(heights),
        faults=dict(sorted(faults.items())),
        events=sum(r.events for r in results),
        virtual_ms=sum(r.virtual_ms for r in results),
        cpu_s=sum(r.wall_s for r in results),
        wall_s=wall_s,
        failures=tuple(r.summary_line() for r in results if r.outcome.failed),
    )


def to_text(summary: Summary) -> str:
    rows = [("seeds", str(summary.seeds))]
    rows += [(f"  {name}", str(count)) for name, count in summary.outcomes.items()]
    rows += [
        (
            "heights (min per seed)",
            f"total {summary.heights_total}, range {summary.heights_min}..{summary.heights_max}",
        ),
        ("simulated events", str(summary.events)),
        ("events / s (per core)", f"{summary.events_per_s:,.0f}"),
        ("virtual : wall (per core)", f"{summary.virtual_to_wall:,.1f}x"),
        ("wall time", f"{summary.wall_s:.1f} s"),
    ]
    rows += [(f"  fault {name}", str(count)) for name, count in summary.faults.items()]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines += ["", *summary.failures] if summary.failures else []
    return "\n".join(lines)


def to_json(summary: Summary) -> str:
    data = attrs.asdict(summary)
    data["events_per_s"] = round(summary.events_per_s, 1)
    data["virtual_to_wall"] = round(summary.virtual_to_wall, 2)
    return json.dumps(data, indent=2, sort_keys=True)


def timed_sweep(
    seeds: Iterable[int],
    overrides: Mapping[str, object] | None = None,
    *,
    workers: int = 1,
    on_result: Callable[[RunResult], None] | None = None,
) -> tuple[list[RunResult], Summary]:
    started = time.perf_counter()
    results = sweep(seeds, overrides, workers=workers, on_result=on_result)
    return results, summarize(results, time.perf_counter() - started)
