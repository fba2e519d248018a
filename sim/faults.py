"""The fault schedule: every partition, clog, filter, crash, pause, outage and storage fault
of a run (power cuts, slow disks), up front.

The schedule is derived from the seed before the run starts, as a tuple of `Fault` values with
stable indices. That makes a run's faults visible (they are printed, traced and shaded in the
report) and makes shrinking a matter of running again with fewer of them
(`--set keep_faults=...` style selection by index). Each fault class draws from its own stream,
so switching one class off leaves the others' faults exactly where they were.

Instances (not validators) are what faults act on: validator i is instance i, and the twin of
validator `twins[k]` is instance `validators + k`.
"""

from __future__ import annotations

import hashlib
import random

import attrs

from sim.config import SCHEDULED_FAULTS, SimConfig
from sim.rng import SeedTree

MAX_FAULTS_PER_CLASS = 64
MESSAGE_KINDS: tuple[str, ...] = ("proposal", "prevote", "precommit", "status", "block", "txs")
"""Message kinds a filter may drop (as classified by `sim.wire_info.classify`)."""


@attrs.frozen
class Fault:
    """One fault interval [start_ms, end_ms) of the safety phase."""

    index: int
    kind: str  # one of SCHEDULED_FAULTS
    start_ms: int
    end_ms: int
    nodes: tuple[int, ...] = ()  # crash/pause/outage: (i,); clog: (src, dst); filter: sources
    groups: tuple[tuple[int, ...], ...] = ()  # partition: the sides
    asymmetric: bool = False  # partition: only groups[1] -> groups[0] is cut
    message_kind: str = ""  # filter: which kind is dropped
    mode: str = ""  # partition: halves | isolate | groups; storage: power | slow
    effect_index: int = 0  # crash/outage: how many effects of the next step run before it;
    # storage power cut: 0 at once, k during the node's k-th next durable write
    slowdown: int = 1  # storage slow: syncs take this many times longer

    def describe(self) -> str:
        what = {
            "partition": lambda: (
                f"{self.mode} {'->'.join(_groups(self.groups))}"
                + (" (asymmetric)" if self.asymmetric else "")
            ),
            "clog": lambda: f"link {self.nodes[0]}->{self.nodes[1]}",
            "filter": lambda: f"drop {self.message_kind} from {_nodes(self.nodes)}",
            "storage": self._storage,
        }.get(self.kind, lambda: f"node {_nodes(self.nodes)}")()
        return f"#{self.index} {self.kind} [{self.start_ms}, {self.end_ms}) ms {what}"

    def _storage(self) -> str:
        if self.mode == "slow":
            return f"node {_nodes(self.nodes)} slow disk x{self.slowdown}"
        when = f"during write {self.effect_index}" if self.effect_index else "at once"
        return f"node {_nodes(self.nodes)} power cut {when}"


def _nodes(nodes: tuple[int, ...]) -> str:
    return ",".join(str(i) for i in nodes)


def _groups(groups: tuple[tuple[int, ...], ...]) -> list[str]:
    return ["{" + _nodes(g) + "}" for g in groups]


def _class_rng(tree: SeedTree, kind: str) -> random.Random:
    digest = hashlib.blake2b(
        f"{tree.subseed('faults')}:{kind}".encode(), digest_size=8, person=b"simfault"
    ).digest()
    return random.Random(int.from_bytes(digest, "big"))


def instance_count(config: SimConfig) -> int:
    return config.validators + len(config.twins)


def _partition(rng: random.Random, instances: int) -> dict[str, object]:
    order = list(range(instances))
    rng.shuffle(order)
    mode = rng.choice(("halves", "isolate", "groups"))
    if mode == "halves":
        cut = instances // 2
        sides = [order[:cut], order[cut:]]
    elif mode == "isolate":
        sides = [order[:1], order[1:]]
    else:
        count = rng.randint(2, min(4, instances))
        sides = [order[k::count] for k in range(count)]
    groups = tuple(tuple(sorted(side)) for side in sides if side)
    asymmetric = len(groups) == 2 and rng.random() < 0.3
    return {"groups": groups, "mode": mode, "asymmetric": asymmetric}


def _storage(rng: random.Random) -> dict[str, object]:
    """A power cut (mostly while a durable write is in flight) or a slow disk."""
    if rng.random() < 0.3:
        return {"mode": "slow", "slowdown": rng.choice((10, 50, 200))}
    return {"mode": "power", "effect_index": rng.choice((0, 1, 1, 2, 3))}


def _intervals(rng: random.Random, config: SimConfig, mean_gap: float) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    t = rng.expovariate(1.0 / mean_gap)
    while t < config.safety_ms and len(out) < MAX_FAULTS_PER_CLASS:
        length = max(50, int(rng.expovariate(1.0 / config.fault_duration_ms)))
        out.append((int(t), min(int(t) + length, config.safety_ms)))
        t += rng.expovariate(1.0 / mean_gap)
    return out


def build_schedule(config: SimConfig) -> tuple[Fault, ...]:
    """All scheduled faults of run `config`, sorted by start time, indexed from 0."""
    tree = SeedTree(config.seed)
    instances = instance_count(config)
    drafts: list[tuple[int, int, dict[str, object]]] = []
    for order, kind in enumerate(SCHEDULED_FAULTS):
        if kind not in config.faults:
            continue
        rng = _class_rng(tree, kind)
        gap = config.fault_interval_ms * (3.0 if kind == "outage" else 1.0)
        for start, end in _intervals(rng, config, gap):
            fields: dict[str, object] = {"kind": kind, "start_ms": start, "end_ms": end}
            if kind == "partition":
                fields.update(_partition(rng, instances))
            elif kind == "clog":
                src, dst = rng.sample(range(instances), 2)
                fields["nodes"] = (src, dst)
            elif kind == "filter":
                count = rng.randint(1, max(1, instances // 2))
                fields["nodes"] = tuple(sorted(rng.sample(range(instances), count)))
                fields["message_kind"] = rng.choice(MESSAGE_KINDS)
            else:
                fields["nodes"] = (rng.randrange(instances),)
                if kind == "outage":
                    fields["end_ms"] = min(config.safety_ms, start + 4 * (end - start) + 2000)
                if kind in ("crash", "outage"):
                    fields["effect_index"] = rng.randint(0, 6)
                if kind == "storage":
                    fields.update(_storage(rng))
            drafts.append((start, order, fields))
    drafts.sort(key=lambda d: (d[0], d[1]))
    return tuple(Fault(index=i, **d[2]) for i, d in enumerate(drafts))  # type: ignore[arg-type]


def select(schedule: tuple[Fault, ...], keep: tuple[int, ...] | None) -> tuple[Fault, ...]:
    """The faults whose indices are in `keep` (all of them when `keep` is None)."""
    if keep is None:
        return schedule
    wanted = set(keep)
    return tuple(f for f in schedule if f.index in wanted)
