"""A sweep's results as tables: JSON for scripts, Markdown for people and papers.

Both hold the summary (outcome counts, heights, events per second, virtual:wall, seeds per
hour, faults injected), what ran it (engine, commit, sources digest, the sweep's own command)
and every failing seed with its reason and the one line that reproduces it locally; the JSON
also has one row per seed (outcome, heights, events, times and the trace digest, which the
local replay of that seed must match).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

from sim.config import format_overrides
from sim.result import RunResult
from sim.sweep import Summary


@attrs.frozen
class SweepInfo:
    """What a table says about the sweep itself."""

    command: str
    total: int  # seeds asked for (more than were run when the sweep was interrupted)
    started: str  # local time, ISO 8601
    commit: str
    sources: str  # `sim.sweep_engine.sources_digest()`
    interrupted: bool = False


def sweep_command(seeds: range, overrides: Mapping[str, object]) -> str:
    """The sweep as one command line (overrides in `--set` form, as runs print them)."""
    parts = ["depositnet sim sweep", f"--seeds {seeds.start}..{seeds.stop - 1}"]
    parts += [f"--set {pair}" for pair in format_overrides(overrides)]
    return " ".join(parts)


def commit() -> str:
    """`git describe`-like: the checkout's commit, `-dirty` with local changes; or `unknown`."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def failure_rows(results: Iterable[RunResult]) -> list[dict[str, object]]:
    return [
        {
            "seed": r.spec.seed,
            "outcome": r.outcome.value,
            "reason": r.reason,
            "reproduce": r.spec.command(),
            "digest": r.digest,
        }
        for r in sorted(results, key=lambda r: r.spec.seed)
        if r.outcome.failed
    ]


def run_rows(results: Iterable[RunResult]) -> list[dict[str, object]]:
    return [
        {
            "seed": r.spec.seed,
            "outcome": r.outcome.value,
            "reason": r.reason,
            "min_height": r.min_height,
            "max_height": r.max_height,
            "events": r.events,
            "virtual_ms": r.virtual_ms,
            "wall_s": round(r.wall_s, 3),
            "liveness": r.liveness,
            "digest": r.digest,
        }
        for r in sorted(results, key=lambda r: r.spec.seed)
    ]


def to_json(summary: Summary, results: Iterable[RunResult], info: SweepInfo) -> str:
    results = list(results)
    data: dict[str, object] = attrs.asdict(summary)
    data.update(attrs.asdict(info))
    data["events_per_s"] = round(summary.events_per_s, 1)
    data["virtual_to_wall"] = round(summary.virtual_to_wall, 2)
    data["seeds_per_hour"] = round(summary.seeds_per_hour, 1)
    data["failures"] = failure_rows(results)
    data["runs"] = run_rows(results)
    return json.dumps(data, indent=2, sort_keys=True)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(summary: Summary, results: Iterable[RunResult], info: SweepInfo) -> str:
    results = list(results)
    status = " (interrupted)" if info.interrupted else ""
    lines = [
        f"# Sweep of {summary.seeds} seeds{status}",
        "",
        f"`{info.command}`",
        "",
        f"Started {info.started}; commit `{info.commit}`, sources `{info.sources}`; "
        f"{summary.engine}, {summary.workers} workers.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| seeds run | {summary.seeds} of {info.total} |",
    ]
    lines += [f"| {name} | {count} |" for name, count in summary.outcomes.items()]
    lines += [
        f"| heights (min per seed) | total {summary.heights_total}, "
        f"range {summary.heights_min}..{summary.heights_max} |",
        f"| simulated events | {summary.events:,} |",
        f"| events / s (per core) | {summary.events_per_s:,.0f} |",
        f"| virtual : wall (per core) | {summary.virtual_to_wall:,.1f}x |",
        f"| wall time | {summary.wall_s:,.1f} s |",
        f"| seeds / hour | {summary.seeds_per_hour:,.0f} |",
    ]
    lines += [f"| fault: {name} | {count:,} |" for name, count in summary.faults.items()]
    failures = failure_rows(results)
    lines += ["", f"## Failing seeds ({len(failures)})", ""]
    if failures:
        lines += ["| seed | outcome | reason | reproduce |", "|---:|---|---|---|"]
        lines += [
            f"| {f['seed']} | {f['outcome']} | {_cell(f['reason'])} | `{f['reproduce']}` |"
            for f in failures
        ]
    else:
        lines.append("none")
    lines += ["", "<details><summary>Every seed</summary>", ""]
    lines += ["| seed | outcome | heights | events | virtual ms | digest |"]
    lines += ["|---:|---|---|---:|---:|---|"]
    lines += [
        f"| {r['seed']} | {r['outcome']} | {r['min_height']}..{r['max_height']} | "
        f"{r['events']} | {r['virtual_ms']} | `{r['digest']}` |"
        for r in run_rows(results)
    ]
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def write_tables(
    summary: Summary,
    results: Iterable[RunResult],
    info: SweepInfo,
    *,
    out_dir: str | None,
    json_path: str | None,
) -> list[str]:
    """Write `sweep-<stamp>.json/.md` under `out_dir` and/or the JSON to `json_path`;
    returns the paths written."""
    results = list(results)
    written = []
    text = to_json(summary, results, info) + "\n"
    if out_dir is not None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(out_dir) / f"sweep-{stamp}"
        for suffix, body in ((".json", text), (".md", to_markdown(summary, results, info))):
            path = base.with_suffix(suffix)
            path.write_text(body, encoding="utf-8")
            written.append(str(path))
    if json_path is not None:
        Path(json_path).write_text(text, encoding="utf-8")
        written.append(json_path)
    return written
