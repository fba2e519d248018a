"""`depositnet sim run | sweep | shrink`: the simulator from the command line.

- `run --seed N`: one run; prints the derived configuration and fault schedule, a progress
  line on a terminal, and a summary table; `--trace FILE` writes the event trace, `--report
  FILE.html` a self-contained page. The exit status is the outcome's (0 pass, 3 safety,
  4 liveness, 5 accountability, 6 crash; 2 is a usage error).
- `sweep --seeds A..B`: many seeds on a Dask cluster (`sim.sweep_cli`): a local one of
  `--workers K` processes, or `--scheduler tcp://host:8786`; progress on stderr, a results
  table as text, and JSON + Markdown with `--out DIR` (`--json FILE` for the JSON alone).
- `shrink --seed N`: minimise a failing run and print the line that reproduces the smaller one.
Every option of a run comes from its seed unless overridden with `--set key=value` (the keys
are the fields printed at the start of a run) or `--bug NAME` (plant a known bug).
"""

from __future__ import annotations

import argparse
import sys

from depositnet.cli import CommandError
from sim.config import BUGS, ConfigError, describe, parse_overrides
from sim.result import RunResult, RunSpec


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

    sweep = commands.add_parser("sweep", help="run many seeds on a Dask cluster (local by default)")
    sweep.add_argument("--seeds", required=True, help="A..B (inclusive), e.g. 0..9999")
    sweep.add_argument(
        "--workers",
        type=int,
        help="worker processes of the local cluster, one run each at a time (default: one per CPU)",
    )
    sweep.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run on this Dask cluster instead of a local one (its workers, `dask worker "
        "ADDRESS --nthreads 1`, must run this commit)",
    )
    sweep.add_argument(
        "--memory-limit",
        default="4GiB",
        help="per local worker; a run above it loses its worker and counts as a crash "
        "(default 4GiB)",
    )
    sweep.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="S", help="for --scheduler"
    )
    _add_common(sweep)
    sweep.add_argument("--out", metavar="DIR", help="write sweep-<stamp>.json and .md there")
    sweep.add_argument("--json", metavar="FILE", help="also write the results as JSON")
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
    from sim.recording import RecordingSimulation
    from sim.runner import Simulation
    from sim.trace import Trace

    spec = _spec(args)
    # Only a report needs the messages; recording them leaves the run (and its digest) as is.
    kind = RecordingSimulation if args.report else Simulation
    try:
        simulation = kind(spec, progress=_progress_line if sys.stderr.isatty() else None)
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
    from sim.sweep_cli import sweep_command_main

    return sweep_command_main(args, _overrides(args))


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
