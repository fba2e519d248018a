"""Runs a sweep's seeds on Dask distributed: a local cluster, or any cluster by its scheduler.

Why Dask: a sweep is an embarrassingly parallel map of a pure-Python, CPU-bound function over
seeds, and Dask distributed does exactly that on one machine (`LocalCluster`) or many (`dask
scheduler` + `dask worker` on each machine), with a nanny that restarts a worker process that
died, and no service to install beyond a pip package. Each worker process runs one run at a
time (one thread): planted bugs patch production functions process-wide, and a run holds
`_RUN_LOCK` besides, in case a remote worker was started with more threads.

Memory stays bounded whatever the seed count: at most `window` runs are submitted at once
(twice the worker threads), each result is released as soon as it is read, and the next seed
is submitted as one completes. A worker that dies mid-run (a run exhausting its memory limit,
a kill) costs only that seed: the scheduler is told to fail a task at its first worker death
(`allowed-failures: 0`), the seed is reported as a crash, the nanny restarts the worker, and
the sweep goes on. A run's result is only trusted from a worker that runs the same code: every
result carries the digest of the worker's sources, and a mismatch stops the sweep.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sim.config import ConfigError
from sim.result import RunResult, RunSpec
from sim.sweep import crashed, run_spec

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

Task = Callable[[RunSpec], RunResult]

LOCAL_CONFIG: dict[str, object] = {
    # A run that kills its worker would kill the next one too: fail it at once, as a crash.
    "distributed.scheduler.allowed-failures": 0,
    # Hand a worker its next run only when it is free, so a dying worker takes one seed with it.
    "distributed.scheduler.worker-saturation": 1.0,
    # A run holds the GIL for seconds; that is expected, not worth a warning per run.
    "distributed.admin.tick.limit": "1h",
    # Nobody reads the worker's statistical profile; sampling every 10 ms only costs CPU.
    "distributed.worker.profile.enabled": False,
}
WORKER_ENV = {"DASK_LOGGING__DISTRIBUTED": "error"}
"""Read by worker processes as they start: their warnings about a lost or cancelled run repeat
what the sweep reports itself."""
SCHEDULER = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
PACKAGES = ("consensus", "ledger", "sim")
_RUN_LOCK = threading.Lock()


class SweepError(Exception):
    """An operator's mistake or a lost cluster: one line, no traceback."""


def require_distributed() -> str:
    """The installed Dask distributed version; SweepError if it is missing."""
    try:
        import distributed
    except ImportError:
        raise SweepError(
            "sim sweep runs on Dask distributed, which is not installed: "
            "pip install 'depositnet[sweep]'"
        ) from None
    return str(distributed.__version__)


def parse_scheduler(text: str) -> str:
    """`tcp://host:port` or `tls://host:port`; SweepError naming the option otherwise."""
    match = SCHEDULER.match(text.strip())
    if match is None or not 1 <= int(match.group(3)) <= 65535:
        raise SweepError(
            f"--scheduler: expected tcp://HOST:PORT (e.g. tcp://sched.example:8786), got {text!r}"
        )
    return text.strip()


@functools.cache
def sources_digest() -> str:
    """A digest of the simulator's and the replica's sources as this process imports them."""
    digest = hashlib.blake2b(digest_size=8)
    for package in PACKAGES:
        root = Path(__import__(package).__file__ or "").parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _remote(task: Task, spec: RunSpec) -> tuple[RunResult, str]:
    """What a worker runs: one run at a time per process, tagged with the code that ran it
    (read before the first run, as close as can be to when the process imported it)."""
    digest = sources_digest()
    with _RUN_LOCK:
        return task(spec), digest


def _quiet_logs() -> None:
    """The sweep reports lost workers itself; Dask's own warnings about them are noise here."""
    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def local_cluster(workers: int, memory_limit: str | int) -> LocalCluster:
    """A `LocalCluster` of `workers` processes with one thread each, on 127.0.0.1 only."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(LOCAL_CONFIG):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address="127.0.0.1:0",  # no fixed port: sweeps side by side never clash
            memory_limit=memory_limit,
            env=WORKER_ENV,
        )


@contextlib.contextmanager
def open_client(
    *,
    workers: int,
    scheduler: str | None = None,
    memory_limit: str | int = "4GiB",
    connect_timeout_s: float = 10.0,
) -> Iterator[Client]:
    """A client of the cluster at `scheduler`, or of a new local cluster (closed on exit)."""
    require_distributed()
    from distributed import Client

    _quiet_logs()
    if scheduler is None:
        with local_cluster(workers, memory_limit) as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=connect_timeout_s)
    except (OSError, TimeoutError) as exc:
        raise SweepError(f"--scheduler {scheduler}: cannot connect ({_first_line(exc)})") from None
    except Exception as exc:  # something answered, but not a Dask scheduler
        raise SweepError(
            f"--scheduler {scheduler}: not a Dask scheduler? ({_first_line(exc)})"
        ) from None
    with client:
        try:
            client.wait_for_workers(1, timeout=connect_timeout_s)
        except TimeoutError:
            raise SweepError(
                f"--scheduler {scheduler}: no worker joined within {connect_timeout_s:g} s"
            ) from None
        yield client


def threads(client: Client) -> int:
    """Worker threads in the cluster now (workers may join or leave during a sweep)."""
    return sum(client.nthreads().values())


def stream(
    client: Client,
    specs: Iterable[RunSpec],
    on_result: Callable[[RunResult], None],
    *,
    task: Task = run_spec,
    window: int | None = None,
) -> int:
    """Run every spec on the cluster, at most `window` at a time (default: twice the worker
    threads); `on_result` sees each result as it completes, in any order. Returns the most
    worker threads seen (workers may join a remote cluster during the sweep)."""
    from distributed import as_completed

    ours = sources_digest()
    token = uuid.uuid4().hex[:8]
    todo = iter(specs)
    inflight: dict[str, RunSpec] = {}
    pending = as_completed()
    most = threads(client)
    limit = window or 2 * max(1, most)

    submitted = itertools.count()

    def fill() -> None:
        while len(inflight) < limit:
            spec = next(todo, None)
            if spec is None:
                return
            # Unique per submission: Dask would merge two tasks with one key (same seed, other
            # overrides) into one.
            key = f"sim-run-{spec.seed}-{token}-{next(submitted)}"
            future = client.submit(_remote, task, spec, key=key, pure=False)
            inflight[key] = spec
            pending.add(future)

    fill()
    for done, future in enumerate(pending, start=1):
        spec = inflight.pop(str(future.key))
        result = _collect(future, spec, ours)
        future.release()
        on_result(result)
        if done % 32 == 0:
            most = max(most, threads(client))
            limit = window or 2 * max(1, most)
        fill()
    return most


def _collect(future: Future, spec: RunSpec, ours: str) -> RunResult:
    from distributed import KilledWorker

    try:
        result, theirs = future.result()
    except KilledWorker:
        return crashed(spec, "the worker process died mid-run (memory limit exceeded, or killed)")
    except ConfigError as exc:
        raise SweepError(f"seed {spec.seed}: {exc}") from None
    except Exception as exc:
        if future.cancelled():
            raise SweepError(
                f"seed {spec.seed}: the cluster cancelled its run (scheduler lost?)"
            ) from None
        return crashed(spec, f"worker error {exc!r}")
    if theirs != ours:
        raise SweepError(
            f"seed {spec.seed} ran on a worker with other sources (digest {theirs}, ours {ours}):"
            " start every worker from the same commit"
        )
    assert isinstance(result, RunResult)
    return result


def _first_line(exc: BaseException) -> str:
    """`OSError: Timed out ...`: the error's name and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return type(exc).__name__ + (f": {lines[0]}" if lines else "")
