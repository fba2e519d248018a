"""Many seeds: what a sweep runs, and the figures researchers report about it.

Runs are fully independent, so a sweep scales by process and by machine: `sim.sweep_engine`
hands `run_spec` to Dask distributed workers one seed at a time. This module holds what does
not depend on the engine: parsing a seed range, the task itself, and `summarize`, which turns
results into outcome counts, heights, faults injected, simulated events per CPU second, the
ratio of virtual to CPU time and seeds per hour. `to_text` formats a summary for a terminal;
`sim.sweep_tables` writes JSON and Markdown.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from sim.result import Outcome, RunResult, RunSpec
from sim.runner import Simulation

MAX_SEEDS = 10_000_000
"""A bound on one sweep, so a typo (`0..99999999999`) is an error, not a year of work."""


def run_spec(spec: RunSpec) -> RunResult:
    """Run one spec (module-level so worker processes import it by name)."""
    return Simulation(spec).run()


def parse_seeds(text: str) -> range:
    """`A..B` (inclusive) or a single seed `A`; ValueError with a one-line reason otherwise."""
    first, sep, last = text.strip().partition("..")
    try:
        start = int(first)
        stop = int(last) if sep else start
    except ValueError:
        raise ValueError(f"seeds: expected A..B or A (integers), got {text!r}") from None
    if start < 0 or stop < start:
        raise ValueError(f"seeds: expected 0 <= A <= B, got {text!r}")
    if stop - start + 1 > MAX_SEEDS:
        raise ValueError(f"seeds: at most {MAX_SEEDS:,} per sweep, got {stop - start + 1:,}")
    return range(start, stop + 1)


def crashed(spec: RunSpec, reason: str) -> RunResult:
    """The result of a run that produced none (its worker died): a crash with no trace."""
    return RunResult(
        spec=spec,
        outcome=Outcome.CRASH,
        reason=reason,
        heights=(),
        events=0,
        virtual_ms=0,
        wall_s=0.0,
        faults={},
        digest="",
    )


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
    workers: int = 0  # the most worker threads (one per process) seen during the sweep
    engine: str = ""  # what ran it, e.g. "dask distributed 2026.8.0, local cluster"

    @property
    def events_per_s(self) -> float:
        return self.events / self.cpu_s if self.cpu_s else 0.0

    @property
    def virtual_to_wall(self) -> float:
        return self.virtual_ms / 1000 / self.cpu_s if self.cpu_s else 0.0

    @property
    def seeds_per_hour(self) -> float:
        """Whole-sweep throughput (all workers), from the elapsed wall time."""
        return self.seeds * 3600 / self.wall_s if self.wall_s else 0.0


def summarize(
    results: Iterable[RunResult], wall_s: float, *, workers: int = 0, engine: str = ""
) -> Summary:
    results = sorted(results, key=lambda r: r.spec.seed)
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
        workers=workers,
        engine=engine,
    )


def exit_code(summary: Summary) -> int:
    """The first failing outcome's exit code (in `Outcome` order), 0 when every seed passed."""
    failing = [Outcome(name) for name, n in summary.outcomes.items() if n and name != "pass"]
    return failing[0].exit_code if failing else 0


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
        ("seeds / hour", f"{summary.seeds_per_hour:,.0f} ({summary.workers} workers)"),
    ]
    if summary.engine:
        rows.append(("engine", summary.engine))
    rows += [(f"  fault {name}", str(count)) for name, count in summary.faults.items()]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines += ["", *summary.failures] if summary.failures else []
    return "\n".join(lines)
