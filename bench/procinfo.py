"""What the kernel knows about a validator process: CPU seconds, resident memory, its PID.

Resident memory comes in two kinds that mean different things for a validator: RssAnon is
the process's own memory (Python's heap: a leak shows here), RssFile is file pages mapped into
it: the interpreter and its libraries (a constant 25 MiB or so), and LMDB's data file (clean
page-cache pages of a file that grows with every block, which the kernel may reclaim; bounded
by the file's size). VmRSS is their sum (plus RssShmem).

Linux `/proc` only (the benchmark's machine); `node_pid` finds a validator by the config path on
its command line, so the harness needs nothing private from `LocalNetwork`.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def parse_stat_cpu(stat: str) -> float:
    """utime + stime in clock ticks from a /proc/PID/stat line (the command may hold spaces)."""
    fields = stat.rsplit(")", 1)[1].split()
    return float(int(fields[11]) + int(fields[12]))  # fields 14 and 15 of proc(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    return parse_stat_cpu(Path(f"/proc/{pid}/stat").read_text()) / _TICKS


def parse_rss(status: str) -> int:
    """VmRSS in bytes from a /proc/PID/status text (0 if absent)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def rss_bytes(pid: int) -> int:
    return parse_rss(Path(f"/proc/{pid}/status").read_text())


MEMORY_FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")


def parse_memory(status: str) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile and RssShmem in bytes from a /proc/PID/status text (0 if a
    field is absent, as on kernels before 4.5 for the Rss* fields)."""
    out = dict.fromkeys(MEMORY_FIELDS, 0)
    for line in status.splitlines():
        name, _, rest = line.partition(":")
        if name in out:
            value, _, unit = rest.strip().partition(" ")
            if unit.strip() != "kB":
                raise ValueError(f"unexpected unit in /proc status line {line!r}")
            out[name] = int(value) * 1024
    return out


def memory(pid: int) -> dict[str, int]:
    """The process's resident memory by kind (see `parse_memory`)."""
    return parse_memory(Path(f"/proc/{pid}/status").read_text())


def file_size(path: Path) -> tuple[int, int]:
    """(apparent size, bytes allocated on disk) of a file: (0, 0) if it does not exist. LMDB's
    data file is sparse where the store has not written yet."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return 0, 0
    return st.st_size, st.st_blocks * 512


def node_pid(config: Path) -> int:
    """The PID of the `depositnet node --config CONFIG` process; LookupError if none runs."""
    wanted = os.fspath(config).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\x00")
        except OSError:
            continue
        if b"node" in argv and wanted in argv:
            return int(entry.name)
    raise LookupError(f"no validator process runs with config {config}")


def cores() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0))


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
