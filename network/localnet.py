"""A local N-validator network of real `depositnet node` processes on 127.0.0.1.

Used by `depositnet testnet`, the benchmarks and the end-to-end tests: it writes a testnet with
`init_testnet` on free loopback ports, starts each validator as its own process, and waits for
the `ready` line the node prints once it listens. Each node's stderr (its logs) goes to
`DIR/node{i}.log`; a node that dies while starting is reported with the end of that log.
Stopping is SIGTERM (graceful) or SIGKILL (a crash).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from ledger.genesis import Genesis
from network.logs import parse_ready
from network.testnet_init import TestnetLayout, init_testnet

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 10


class LocalNetworkError(RuntimeError):
    """A node process failed to start or stop; the message points at its log."""


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class LocalNetwork:
    """Validators as child processes; use as a context manager so they never outlive you."""

    def __init__(
        self,
        directory: Path,
        *,
        validators: int = 4,
        config_extra: str = "",
        chain_id: str = "depositnet-local",
    ) -> None:
        ports = free_ports(2 * validators)
        self.layout: TestnetLayout = init_testnet(
            directory,
            validators=validators,
            p2p_ports=ports[0::2],
            api_ports=ports[1::2],
            chain_id=chain_id,
            config_extra=config_extra,
        )
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * validators

    # ------------------------------------------------------------------ what tests read

    @property
    def size(self) -> int:
        return len(self._procs)

    @property
    def api_urls(self) -> tuple[str, ...]:
        return self.layout.api_urls

    @property
    def genesis(self) -> Genesis:
        return self.layout.genesis

    @property
    def genesis_path(self) -> Path:
        return self.layout.genesis_path

    @property
    def keys_dir(self) -> Path:
        return self.layout.directory / "keys"

    def log_path(self, index: int) -> Path:
        return self.layout.directory / f"node{index}.log"

    def log_tail(self, index: int, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of validator `index`'s log, indented, for an error message."""
        try:
            text = self.log_path(index).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"    (cannot read it: {exc.strerror})"
        tail = text.splitlines()[-lines:]
        return "\n".join(f"    {line}" for line in tail) if tail else "    (empty)"

    def is_running(self, index: int) -> bool:
        proc = self._procs[index]
        return proc is not None and proc.poll() is None

    # ------------------------------------------------------------------ lifecycle

    def start_all(self) -> None:
        for index in range(self.size):
            self._spawn(index)
        for index in range(self.size):
            self._wait_ready(index)

    def start(self, index: int) -> None:
        self._spawn(index)
        self._wait_ready(index)

    def stop(self, index: int, *, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait; SIGKILL if it does not stop in time. Returns the exit status."""
        return self._signal(index, signal.SIGTERM, timeout_s)

    def kill(self, index: int) -> int:
        """SIGKILL: the node dies at whatever instant it is in."""
        return self._signal(index, signal.SIGKILL, STOP_TIMEOUT_S)

    def stop_all(self) -> None:
        for index in range(self.size):
            if self._procs[index] is not None:
                self.stop(index)

    def __enter__(self) -> LocalNetwork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    # ------------------------------------------------------------------ internals

    def _spawn(self, index: int) -> None:
        if self.is_running(index):
            raise LocalNetworkError(f"validator {index} is already running")
        log = self.log_path(index).open("ab")
        try:
            self._procs[index] = subprocess.Popen(
                _node_command(self.layout.configs[index]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the parent only
            )
        finally:
            log.close()

    def _wait_ready(self, index: int) -> None:
        proc = self._procs[index]
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                # Quote the log's end: the log may live in a temporary directory that is
                # deleted as soon as this error stops the run.
                raise LocalNetworkError(
                    f"validator {index} exited with {proc.returncode} while starting; the end "
                    f"of its log {self.log_path(index)}:\n{self.log_tail(index)}"
                )
            readable, _, _ = select.select([proc.stdout], [], [], 0.2)
            if readable:
                line = proc.stdout.readline().decode("utf-8", "replace")
                if parse_ready(line) is not None:
                    return
        self._signal(index, signal.SIGKILL, STOP_TIMEOUT_S)
        raise LocalNetworkError(
            f"validator {index} not ready after {READY_TIMEOUT_S:g}s; see {self.log_path(index)}"
        )

    def _signal(self, index: int, signum: signal.Signals, timeout_s: float) -> int:
        proc = self._procs[index]
        if proc is None:
            raise LocalNetworkError(f"validator {index} is not running")
        if proc.poll() is None:
            proc.send_signal(signum)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        self._procs[index] = None
        return proc.returncode


def _node_command(config: Path) -> Sequence[str]:
    """The node's command line, independent of the current directory: `-P` keeps Python from
    putting the cwd first on sys.path (where a `depositnet/` folder would shadow the package)
    and the config path is absolute."""
    absolute = os.fspath(config.resolve())
    return [sys.executable, "-P", "-m", "depositnet", "node", "--config", absolute]
