"""`depositnet sim sweep`: check the options, run the seeds on the engine, write the tables.

Every mistake an operator can make (a bad seed range, a scheduler address that is not one or
does not answer, an override that does not fit a seed, no Dask installed, an output folder that
cannot be written) ends as one line and exit status 2 before or instead of a traceback. A sweep
interrupted with Ctrl-C still writes the tables of the seeds it finished (exit status 130).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import attrs

from depositnet.cli import CommandError
from sim.config import ConfigError
from sim.result import RunResult, RunSpec
from sim.swarm import derive_config
from sim.sweep import exit_code, parse_seeds, summarize, to_text
from sim.sweep_engine import (
    SweepError,
    open_client,
    parse_scheduler,
    require_distributed,
    sources_digest,
    stream,
    threads,
)
from sim.sweep_progress import Progress
from sim.sweep_tables import SweepInfo, commit, now_iso, sweep_command, write_tables


def _checked(args: argparse.Namespace, overrides: dict[str, object]) -> tuple[range, str | None]:
    """Validate everything that can be validated before a cluster starts."""
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.scheduler is not None and args.workers is not None:
        raise CommandError("--workers: not with --scheduler (the cluster's workers run the seeds)")
    if args.workers is not None and args.workers < 1:
        raise CommandError("--workers: expected at least 1")
    if args.connect_timeout <= 0:
        raise CommandError("--connect-timeout: expected a positive number of seconds")
    try:
        derive_config(seeds.start, overrides)  # a bad override fails here, not in a worker
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if args.out is not None:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"--out {args.out}: cannot create ({exc.strerror})") from None
        if not os.access(out, os.W_OK):
            raise CommandError(f"--out {args.out}: not writable")
    try:
        require_distributed()
        scheduler = None if args.scheduler is None else parse_scheduler(args.scheduler)
        if args.scheduler is None:
            from dask.utils import parse_bytes

            try:
                parse_bytes(args.memory_limit)
            except (ValueError, TypeError):
                raise SweepError(
                    f"--memory-limit: expected a size such as 4GiB, got {args.memory_limit!r}"
                ) from None
    except SweepError as exc:
        raise CommandError(str(exc)) from None
    return seeds, scheduler


def sweep_command_main(args: argparse.Namespace, overrides: dict[str, object]) -> int:
    seeds, scheduler = _checked(args, overrides)
    import distributed

    workers = args.workers or len(os.sched_getaffinity(0))
    where = f"scheduler {scheduler}" if scheduler else f"local cluster of {workers} processes"
    engine = f"dask distributed {distributed.__version__}, {where}"
    info = SweepInfo(
        command=sweep_command(seeds, overrides),
        total=len(seeds),
        started=now_iso(),
        commit=commit(),
        sources=sources_digest(),
    )
    results: list[RunResult] = []
    progress = Progress(len(seeds), sys.stderr, tty=sys.stderr.isatty())

    def on_result(result: RunResult) -> None:
        results.append(result)
        progress.on_result(result)

    started = time.perf_counter()
    workers_seen = 0
    up_s = 0.0
    try:
        with open_client(
            workers=workers,
            scheduler=scheduler,
            memory_limit=args.memory_limit,
            connect_timeout_s=args.connect_timeout,
        ) as client:
            workers_seen = threads(client)
            up_s = time.perf_counter() - started
            sys.stderr.write(f"sweep of {len(seeds)} seeds on {engine} (up in {up_s:.1f} s)\n")
            started = time.perf_counter()
            progress.start()
            specs = (RunSpec(seed, overrides) for seed in seeds)
            workers_seen = stream(client, specs, on_result)
    except SweepError as exc:
        raise CommandError(str(exc)) from None
    except KeyboardInterrupt:
        info = attrs.evolve(info, interrupted=True)
    progress.finish()
    summary = summarize(results, time.perf_counter() - started, workers=workers_seen, engine=engine)
    print(to_text(summary))
    try:
        written = write_tables(summary, results, info, out_dir=args.out, json_path=args.json)
    except OSError as exc:
        raise CommandError(f"cannot write the results: {exc}") from None
    for path in written:
        sys.stderr.write(f"wrote {path}\n")
    if info.interrupted:
        sys.stderr.write(f"interrupted after {len(results)} of {len(seeds)} seeds\n")
        return 130
    return exit_code(summary)
