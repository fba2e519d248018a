"""Where a validator's CPU goes: a py-spy profile of one node process, sorted into categories.

`record` runs `py-spy record --format raw --nonblocking --gil` against the node's PID for a while
(the node is not paused, so it is not slowed). Only the thread holding the GIL is sampled: a
thread blocked in epoll, in fsync or waiting for work has released it, and on a shared machine
py-spy's idle detection alone counts such threads as busy whenever they are runnable but queued
for a core (a first run without --gil put 59% of the samples in trio's epoll wait and its idle
worker threads). `classify_stack` walks a sampled stack from the innermost frame outwards
and the first frame it recognises names the category: a signature check called from the API
counts as a signature check, JSON written by the API counts as HTTP API. One exception: a stack
through the used-id index (`ledger/used_ids.py`: the tx_index lookups in LMDB at admission and
execution, and their decoding) is "used-id index" whatever it calls. Trio's scheduler,
epoll and worker-thread plumbing are "event loop"; what no rule names is "other"
(`top_unclassified` lists it). `breakdown` turns the samples into fractions.

Those fractions are of GIL-held samples, not of CPU: C code that releases the GIL runs unseen,
and pynacl's Ed25519 verify (about 100 us a call, the largest such cost) does. `cpu_table`
therefore turns the fractions into CPU per committed transfer in two parts: the signature
checks from the verify rate measured in the same run (one per transfer per validator, plus the
proposal and votes of each height spread over its transfers), and the rest of the validator's
measured CPU (from /proc) split by the GIL-held shares, with the GIL-held signature-check
samples (the Python around the C call) counted as signature checks.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

CATEGORIES = (
    "signature checks",
    "decoding",
    "execution",
    "used-id index",
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


# A stack through one of these frames is that category whatever it calls: the used-id index
# reads LMDB (which the store-commit rule would claim) and decodes its records.
_WHOLE_STACK_RULES: tuple[tuple[str, str], ...] = (("used-id index", "ledger/used_ids.py"),)


def classify_stack(frames: list[str]) -> str:
    """The category of a stack given outermost-first (py-spy's order)."""
    for whole, needle in _WHOLE_STACK_RULES:
        if any(needle in frame for frame in frames):
            return whole
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


def vote_verifications_per_height(validators: int) -> int:
    """Consensus signatures one validator checks per height: the proposal, and a prevote and
    a precommit from each other validator (its own it signs, and does not check)."""
    return 2 * (validators - 1) + 1


def cpu_table(
    gil_shares: Mapping[str, float],
    cpu_per_transfer_s: float,
    verify_rate: float,
    *,
    validators: int,
    heights: int | None,
    committed: int,
) -> dict[str, Any]:
    """CPU microseconds per committed transfer by category, for one validator.

    `gil_shares` are `breakdown`'s fractions of GIL-held samples; `cpu_per_transfer_s` is the
    validator's measured CPU (user + system, all threads) over the profiled window divided by
    the transfers committed in it; `verify_rate` is single-core Ed25519 verifications per CPU
    second; `heights` is how many heights the chain made in that window (None: unknown, the
    proposal and vote signatures are then left out). Signature checks get
    verifications_per_transfer x 1e6 / verify_rate (at most the measured total) plus their
    GIL-held share of the rest; every other category its GIL-held share of the rest
    (measured total minus the signature estimate). The `us` column sums to the measured total.
    """
    total_us = cpu_per_transfer_s * 1e6
    votes = (
        vote_verifications_per_height(validators) * heights / committed
        if heights is not None and committed > 0
        else None
    )
    verifications = 1.0 + (votes or 0.0)
    sig_estimate_us = verifications * 1e6 / verify_rate if verify_rate > 0 else 0.0
    sig_us = min(sig_estimate_us, total_us)
    rest_us = total_us - sig_us
    sampled = sum(gil_shares.values())
    rows = []
    for name in CATEGORIES:
        share = gil_shares.get(name, 0.0) / sampled if sampled > 0 else 0.0
        if not sampled and name == "other":
            share = 1.0  # nothing sampled: the rest is unattributed
        us = share * rest_us + (sig_us if name == "signature checks" else 0.0)
        rows.append(
            {
                "category": name,
                "us": us,
                "cpu_share": us / total_us if total_us > 0 else 0.0,
                "gil_share": gil_shares.get(name, 0.0),
            }
        )
    return {
        "cpu_per_transfer_us": total_us,
        "verify_rate_per_cpu_s": verify_rate,
        "verify_us": 1e6 / verify_rate if verify_rate > 0 else None,
        "transfer_verifications": 1.0,
        "vote_verifications_per_transfer": votes,
        "verifications_per_transfer": verifications,
        "signature_estimate_us": sig_estimate_us,
        "signature_estimate_capped": sig_us < sig_estimate_us,
        "rest_us": rest_us,
        "rows": rows,
    }


def profile_cpu_table(
    profile: dict[str, Any], verify_rate: float, validators: int
) -> dict[str, Any]:
    """The profiled step's CPU per committed transfer by category (see `cpu_table`): the
    heights are those of the step's measured window."""
    step = profile["step"]
    heights = step.get("heights")
    return cpu_table(
        profile["breakdown"],
        profile["cpu_per_transfer_s"] or 0.0,
        verify_rate,
        validators=validators,
        heights=heights[1] - heights[0] if heights else None,
        committed=step["committed"],
    )


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
