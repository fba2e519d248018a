"""`depositnet sim run | sweep | shrink`: the simulator from the command line.

- `run --seed N`: one run; prints the derived configuration and fault schedule, a progress
  line on a terminal, and a summary table; `--trace FILE` writes the event trace, `--report
  FILE.html` a self-contained page. The exit status is the outcome's (0 pass, 3 safety,
  4 liveness, 5 accountability, 6 crash; 2 is a usage error).
- `sweep --seeds A..B --workers K`: many seeds in parallel processes; a results table as text,
  and as JSON with `--json FILE`.
- `shrink --seed N`: minimise a failing run and print the line that reproduces the smaller one.
Every option of a run comes from its seed unless overridden with `--set key=value` (the keys
are the fields printed at the start of a run) or `--bug NAME` (plant a known bug).
"""

from __future__ import annotations

import argparse
import sys
import time

from depositnet.cli import CommandError
from sim.config import BUGS, ConfigError, describe, parse_overrides
from sim.result import Outcome, RunResult, RunSpec


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one derived option, e.g. validators=7, faults=partition,crash, "
        "byzantine=0:equivocate, safety_ms=5000 (repeatable)",
    )
    parser.add_argument(
        "--bug", action="append", default=[], choices=BUGS, help="plant a known bug (test only)"
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = subparsers.add_parser("sim", help="the deterministic simulator")
    commands = sim.add_subparsers(dest="sim_command", metavar="COMMAND")

    def _help(args: argparse.Namespace) -> int:
        sim.print_help()
        return 0

    sim.set_defaults(func=_help)

    run = commands.add_parser("run", help="run one seed")
    run.add_argument("--seed", type=int, required=True)
    _add_common(run)
    run.add_argument("--keep-faults", help="keep only these fault indices (from shrinking)")
    run.add_argument("--trace", metavar="FILE", help="write one fixed-column line per event")
    run.add_argument("--report", metavar="FILE.html", help="write a self-contained HTML page")
    run.add_argument("--quiet", action="store_true", help="print only the summary line")
    run.set_defaults(func=_run)

    sweep = commands.add_parser("sweep", help="run many seeds in parallel processes")
    sweep.add_argument("--seeds", required=True, help="A..B (inclusive)")
    sweep.add_argument("--workers", type=int, default=1)
    _add_common(sweep)
    sweep.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    sweep.set_defaults(func=_sweep)

    shrink = commands.add_parser("shrink", help="minimise a failing run")
    shrink.add_argument("--seed", type=int, required=True)
    _add_common(shrink)
    shrink.add_argument("--keep-faults", help="start from these fault indices")
    shrink.add_argument("--max-runs", type=int, default=60)
    shrink.set_defaults(func=_shrink)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    pairs = list(args.overrides)
    if args.bug:
        pairs.append("bugs=" + ",".join(args.bug))
    try:
        return parse_overrides(pairs)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


def _keep(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    if text.strip() == "none":
        return ()
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise CommandError(
            f"--keep-faults: expected comma-separated indices, got {text!r}"
        ) from None


def _spec(args: argparse.Namespace) -> RunSpec:
    if args.seed < 0:
        raise CommandError("--seed: expected a non-negative integer")
    return RunSpec(args.seed, _overrides(args), _keep(args.keep_faults))


def _progress_line(now: int, end: int, height: int) -> None:
    width = 30
    done = min(width, width * now // max(1, end))
    bar = "#" * done + "." * (width - done)
    sys.stderr.write(f"\r[{bar}] {now / 1000:8.1f}s virtual  height {height:<6}")
    sys.stderr.flush()


def _run(args: argparse.Namespace) -> int:
    from sim.runner import Simulation
    from sim.trace import Trace

    spec = _spec(args)
    try:
        simulation = Simulation(spec, progress=_progress_line if sys.stderr.isatty() else None)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if not args.quiet:
        print(f"seed {spec.seed}: derived configuration")
        print(describe(simulation.config))
        print(f"fault schedule ({len(simulation.schedule)} faults):")
        for fault in simulation.schedule:
            print(f"  {fault.describe()}")
    trace_file = open(args.trace, "w", encoding="utf-8") if args.trace else None  # noqa: SIM115
    try:
        simulation.trace = Trace(trace_file)
        result = simulation.run()
    finally:
        if trace_file is not None:
            trace_file.close()
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    if args.report:
        from sim.report import write_report

        write_report(args.report, simulation, result)
    print(result.summary_line() if args.quiet else summary_table(result))
    return result.outcome.exit_code


def summary_table(result: RunResult) -> str:
    rate = result.events / result.wall_s if result.wall_s else 0.0
    ratio = result.virtual_ms / 1000 / result.wall_s if result.wall_s else 0.0
    rows = [
        ("outcome", result.outcome.value + (f": {result.reason}" if result.reason else "")),
        ("heights", " ".join(str(h) for h in result.heights)),
        ("liveness", result.liveness or "-"),
        ("events", f"{result.events} ({rate:,.0f}/s)"),
        ("virtual time", f"{result.virtual_ms} ms ({ratio:,.1f}x wall)"),
        ("wall time", f"{result.wall_s:.2f} s"),
        ("faults", ", ".join(f"{k} {v}" for k, v in result.faults.items()) or "none"),
        ("trace digest", result.digest),
    ]
    rows += [("note", note) for note in result.notes]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if result.outcome.failed:
        lines.append(f"reproduce: {result.spec.command()}")
    return "\n".join(lines)


def _sweep(args: argparse.Namespace) -> int:
    from sim.sweep import parse_seeds, timed_sweep, to_json, to_text

    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.workers < 1:
        raise CommandError("--workers: expected at least 1")
    overrides = _overrides(args)
    total = len(seeds)
    done = [0, 0]
    started = time.perf_counter()

    def on_result(result: RunResult) -> None:
        done[0] += 1
        done[1] += result.outcome.failed
        if result.outcome.failed:
            sys.stderr.write(("\n" if sys.stderr.isatty() else "") + result.summary_line() + "\n")
        if sys.stderr.isatty():
            elapsed = time.perf_counter() - started
            sys.stderr.write(
                f"\r{done[0]}/{total} seeds, {done[1]} failing, {elapsed:.0f} s elapsed "
            )
        sys.stderr.flush()

    try:
        _results, summary = timed_sweep(seeds, overrides, workers=args.workers, on_result=on_result)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(to_text(summary))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            out.write(to_json(summary) + "\n")
    failing = [
        Outcome(name) for name, count in summary.outcomes.items() if count and name != "pass"
    ]
    return failing[0].exit_code if failing else 0


def _shrink(args: argparse.Namespace) -> int:
    from sim.shrink import NothingToShrink, shrink

    spec = _spec(args)

    def on_try(candidate: RunSpec, result: RunResult, kept: bool) -> None:
        mark = "kept " if kept else "     "
        print(f"{mark}{result.outcome.value:<24} {candidate.command()}", flush=True)

    try:
        smaller, result = shrink(spec, max_runs=args.max_runs, on_try=on_try)
    except NothingToShrink as exc:
        raise CommandError(str(exc)) from None
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    print(f"smallest failing run: {result.outcome.value}: {result.reason}")
    print(f"reproduce: {smaller.command()}")
    return result.outcome.exit_code
