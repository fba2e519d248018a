"""Where a validator's CPU goes: a py-spy profile of one node process, sorted into categories.

`record` runs `py-spy record --format raw --nonblocking --gil` against the node's PID for a while
(the node is not paused, so it is not slowed). Only the thread holding the GIL is sampled: a
thread blocked in epoll, in fsync or waiting for work has released it, and on a shared machine
py-spy's idle detection alone counts such threads as busy whenever they are runnable but queued
for a core (a first run without --gil put 59% of the samples in trio's epoll wait and its idle
worker threads). `classify_stack` walks a sampled stack from the innermost frame outwards
and the first frame it recognises names the category: a signature check called from the API
counts as a signature check, JSON written by the API counts as HTTP API. Trio's scheduler,
epoll and worker-thread plumbing are "event loop"; what no rule names is "other"
(`top_unclassified` lists it). `breakdown` turns the samples into fractions.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CATEGORIES = (
    "signature checks",
    "decoding",
    "execution",
    "store commit",
    "consensus",
    "gossip",
    "HTTP API",
    "event loop",
    "other",
)

# (category, substrings of a frame "function (path:line)"), tried in this order on each frame.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("signature checks", ("nacl/", "consensus/crypto.py", "asymmetric/ed25519")),
    (
        "gossip",
        ("ciphers/aead", "network/channel.py", "network/framing.py", "network/handshake.py"),
    ),
    (
        "decoding",
        ("msgpack", "consensus/codec.py", "ledger/txcodec.py", "consensus/replica/wire.py"),
    ),
    ("store commit", ("lmdb", "ledger/store_")),
    (
        "execution",
        (
            "ledger/app.py",
            "ledger/execute.py",
            "ledger/state.py",
            "ledger/validation.py",
            "ledger/apphash.py",
            "ledger/mempool.py",
            "ledger/amounts.py",
            "ledger/invariants.py",
        ),
    ),
    (
        "gossip",
        ("consensus/replica/gossip.py", "network/peers.py", "network/connection.py"),
    ),
    ("consensus", ("consensus/",)),
    (
        "HTTP API",
        ("network/api", "hypercorn/", "h11/", "fastapi/", "starlette/", "pydantic", "json/"),
    ),
    ("event loop", ("trio/", "outcome/", "selectors.py", "threading.py")),
)


def classify_frame(frame: str) -> str | None:
    for category, needles in _RULES:
        if any(needle in frame for needle in needles):
            return category
    return None


def classify_stack(frames: list[str]) -> str:
    """The category of a stack given outermost-first (py-spy's order)."""
    for frame in reversed(frames):
        category = classify_frame(frame)
        if category is not None:
            return category
    return "other"


def parse_raw(lines: Iterable[str]) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) format: `frame;frame;... COUNT` per line."""
    out = []
    for line in lines:
        line = line.rstrip("\n")
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        out.append((stack.split(";"), int(count)))
    return out


def breakdown(samples: Iterable[tuple[list[str], int]]) -> dict[str, float]:
    """Fraction of samples per category (every category present, summing to 1 when any)."""
    counts = dict.fromkeys(CATEGORIES, 0)
    for frames, count in samples:
        counts[classify_stack(frames)] += count
    total = sum(counts.values())
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def top_unclassified(samples: Iterable[tuple[list[str], int]], n: int = 8) -> list[list[Any]]:
    """The innermost frames of the most frequent 'other' stacks: [frame, fraction of all]."""
    counts: dict[str, int] = {}
    total = 0
    for frames, count in samples:
        total += count
        if classify_stack(frames) == "other" and frames:
            counts[frames[-1]] = counts.get(frames[-1], 0) + count
    ranked = sorted(counts.items(), key=lambda item: -item[1])[:n]
    return [[frame, count / total] for frame, count in ranked]


def pyspy_path() -> str | None:
    """py-spy on PATH or beside this interpreter (a venv's bin/), else None."""
    import sys

    found = shutil.which("py-spy")
    if found:
        return found
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else None


def start_record(
    pid: int, seconds: float, output: Path, rate_hz: int = 100
) -> subprocess.Popen[bytes]:
    """Start py-spy on `pid` for `seconds`; wait on the returned process, then `load(output)`."""
    exe = pyspy_path()
    if exe is None:
        raise FileNotFoundError("py-spy is not installed (pip install py-spy)")
    command = [
        exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(output),
        "--duration", str(max(1, round(seconds))), "--rate", str(rate_hz), "--nonblocking",
        "--gil",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def load(output: Path) -> dict[str, Any]:
    """A finished raw profile: fractions per category, samples, the top unclassified frames."""
    samples = parse_raw(output.read_text().splitlines())
    return {
        "breakdown": breakdown(samples),
        "samples": sum(count for _, count in samples),
        "top_other": top_unclassified(samples),
    }
