"""Swarm testing: every option of a run is drawn from its seed unless overridden.

Each option draws from its own generator (seeded from the run's "config" stream and the
option's name), so overriding one option never changes how the others are drawn: `--set
validators=7` keeps the same timeouts and fault classes as the plain seed. Options that depend
on others (powers on the validator count and the faulty set) are drawn after them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

from sim.config import (
    FAULT_CLASSES,
    MAX_VALIDATORS,
    STRATEGIES,
    ConfigError,
    SimConfig,
)
from sim.rng import SeedTree


def _option_rng(tree: SeedTree, name: str) -> random.Random:
    digest = hashlib.blake2b(
        f"{tree.subseed('config')}:{name}".encode(), digest_size=8, person=b"simopt"
    ).digest()
    return random.Random(int.from_bytes(digest, "big"))


def tuned_powers(
    n: int, faulty: tuple[int, ...], profile: str, rng: random.Random
) -> tuple[int, ...]:
    """Voting powers for `n` validators under `profile`.

    The tuned profiles set the faulty validators' total share just below or just above 1/3
    or 2/3 of the whole (Jepsen's weighted duplicate keys); with no faulty validator they fall
    back to equal powers.
    """
    if profile == "random":
        return tuple(rng.randint(1, 10) for _ in range(n))
    if profile == "equal" or not faulty or len(faulty) == n:
        return (10,) * n
    honest = n - len(faulty)
    honest_power = 10 * honest
    wanted = {
        "below_third": (honest_power - 1) // 2,  # 3F < W  <=>  2F < H
        "above_third": honest_power // 2 + 1,  # 3F > W
        "below_two_thirds": 2 * honest_power - 1,  # 3F < 2W  <=>  F < 2H
        "above_two_thirds": 2 * honest_power + 1,
    }[profile]
    wanted = max(wanted, len(faulty))
    share, extra = divmod(wanted, len(faulty))
    powers = [10] * n
    for k, index in enumerate(faulty):
        powers[index] = share + (1 if k < extra else 0)
    return tuple(powers)


def _timeouts(tree: SeedTree) -> dict[str, int]:
    rng = _option_rng(tree, "timeouts")
    base = rng.choice((200, 400, 800, 1500))
    return {
        "timeout_propose_ms": base + rng.randint(0, base),
        "timeout_propose_delta_ms": rng.randint(base // 10, base // 2),
        "timeout_prevote_ms": base // 2 + rng.randint(0, base // 2),
        "timeout_prevote_delta_ms": rng.randint(base // 10, base // 2),
        "timeout_precommit_ms": base // 2 + rng.randint(0, base // 2),
        "timeout_precommit_delta_ms": rng.randint(base // 10, base // 2),
    }


STRATEGY_WEIGHTS: tuple[int, ...] = tuple(
    {"lie_vr": 3, "usurp": 2}.get(name, 1) for name in STRATEGIES
)
"""How often each strategy is drawn for a Byzantine validator, relative to the others. The
adversaries that need an occasion (a lying proposer needs a failed round at its turn; the
usurper and forger, turns of their own) weigh more; each strategy is drawn for about 4-12% of
seeds (`tests/sim/test_adversaries.py` holds the swarm to that)."""


def _byzantine(tree: SeedTree, n: int) -> tuple[tuple[tuple[int, str], ...], tuple[int, ...]]:
    rng = _option_rng(tree, "byzantine")
    f = (n - 1) // 3
    roll = rng.random()
    if roll < 0.45:
        count = 0
    elif roll < 0.9:
        count = rng.randint(1, max(1, f))
    else:
        count = rng.randint(f + 1, max(f + 1, n // 2))  # beyond the budget on purpose
    chosen = sorted(rng.sample(range(n), min(count, n - 1)))
    twins: list[int] = []
    byzantine: list[tuple[int, str]] = []
    for index in chosen:
        if rng.random() < 0.25:
            twins.append(index)
        else:
            byzantine.append((index, rng.choices(STRATEGIES, STRATEGY_WEIGHTS)[0]))
    return tuple(byzantine), tuple(twins)


def derive_config(seed: int, overrides: Mapping[str, object] | None = None) -> SimConfig:
    """The configuration of run `seed`, with `overrides` (typed values) applied on top."""
    overrides = dict(overrides or {})
    tree = SeedTree(seed)

    def pick(name: str, drawn: object) -> object:
        return overrides.pop(name) if name in overrides else drawn

    n = pick("validators", _option_rng(tree, "validators").randint(4, 10))
    assert isinstance(n, int)
    byzantine, twins = _byzantine(tree, n)
    byzantine = pick("byzantine", byzantine)  # type: ignore[assignment]
    twins = pick("twins", twins)  # type: ignore[assignment]
    if not 1 <= n <= MAX_VALIDATORS:
        raise ConfigError(f"validators: expected 1..{MAX_VALIDATORS}, got {n}")
    for key, indices in (("byzantine", [i for i, _ in byzantine]), ("twins", list(twins))):
        if any(not 0 <= i < n for i in indices):
            raise ConfigError(f"{key}: validator indices must be below {n}")
    faulty = tuple(sorted({i for i, _ in byzantine} | set(twins)))
    profile_rng = _option_rng(tree, "power_profile")
    profile = pick(
        "power_profile", profile_rng.choice(("equal", "random") if not faulty else _TUNED)
    )
    assert isinstance(profile, str)
    if profile not in _ALL_PROFILES:
        raise ConfigError(f"power_profile: expected one of {', '.join(_ALL_PROFILES)}")
    powers = pick("powers", tuned_powers(n, faulty, profile, _option_rng(tree, "powers")))

    rng = _option_rng(tree, "faults")
    drawn = tuple(c for c in FAULT_CLASSES if c != "storage" and rng.random() < 0.5)
    disk = _option_rng(tree, "disk")  # its own stream: the classes above keep their draws
    if disk.random() < 0.5:
        drawn = tuple(c for c in FAULT_CLASSES if c in drawn or c == "storage")
    enabled = pick("faults", drawn)
    assert isinstance(enabled, tuple)
    net = _option_rng(tree, "network")
    timeouts = _timeouts(tree)
    work = _option_rng(tree, "workload")
    phase = _option_rng(tree, "phases")
    values: dict[str, object] = {
        "seed": seed,
        "validators": n,
        "powers": powers,
        "power_profile": profile,
        "byzantine": byzantine,
        "twins": twins,
        "signatures": "fast",
        **timeouts,
        "max_block_txs": _option_rng(tree, "block").choice((1, 5, 20, 100, 500)),
        "empty_block_interval_ms": _option_rng(tree, "empty").choice((0, 0, 300, 1500)),
        "faults": enabled,
        "latency_min_ms": net.randint(1, 20),
        "latency_mean_ms": net.choice((5, 20, 50, 150)),
        "loss": _rate(net.uniform(0.0, 0.2), "loss" in enabled),
        "duplicate": _rate(net.uniform(0.0, 0.2), "duplicate" in enabled),
        "reorder": _rate(net.uniform(0.0, 0.3), "reorder" in enabled),
        "fault_interval_ms": rng.randint(300, 3000),
        "fault_duration_ms": rng.randint(200, 4000),
        "clock_offset_max_ms": rng.choice((50, 500, 3000)) * ("clock" in enabled),
        "clock_drift_max_ppm": rng.choice((1000, 20000, 100000)) * ("clock" in enabled),
        "safety_ms": phase.randint(4, 16) * 1000,
        "liveness_ms": 0,  # derived below from the timeouts unless overridden
        "liveness_heights": 2,
        "tx_per_s": work.choice((0, 5, 20, 100)),
        "invalid_tx_pct": work.choice((0, 5, 20)),
        "bugs": (),
        "disk_sync_ms": disk.choice((1, 2, 5, 20)),
        "disk_lies": (),  # beyond the model: only by override
    }
    for key in list(overrides):
        if key not in values:
            raise ConfigError(f"{key}: not a configuration key")
        values[key] = overrides.pop(key)
    if not values["liveness_ms"]:
        values["liveness_ms"] = liveness_bound_ms(values)
    config = SimConfig(**values)  # type: ignore[arg-type]
    config.validate()
    return config


def _rate(drawn: float, enabled: bool) -> float:
    return round(drawn, 3) if enabled else 0.0


_TUNED = ("equal", "random", "below_third", "above_third", "below_two_thirds")
_ALL_PROFILES = (*_TUNED, "above_two_thirds")


def liveness_bound_ms(values: Mapping[str, object]) -> int:
    """Virtual time a healed core gets to commit: eight rounds per required height, with the
    linearly growing timeouts, plus slack for catching up and the worst clock drift."""
    rounds = 8
    total = 0
    for r in range(rounds):
        for step in ("propose", "prevote", "precommit"):
            base = values[f"timeout_{step}_ms"]
            delta = values[f"timeout_{step}_delta_ms"]
            assert isinstance(base, int) and isinstance(delta, int)
            total += base + r * delta
    heights = values["liveness_heights"]
    assert isinstance(heights, int)
    return int(total * (1 + heights) * 1.2) + 5_000
