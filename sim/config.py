"""The full configuration of one simulation run, and how a person overrides parts of it.

A `SimConfig` is plain data: everything a run does follows from it and its seed. `sim.swarm`
derives one from a seed (swarm testing); `parse_overrides` turns `key=value` strings from the
command line into typed values, rejecting unknown keys and bad values with a `ConfigError`
that names the key. `describe` prints the whole derived configuration at the start of a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import attrs

from sim.planted import NAMES

FAULT_CLASSES: tuple[str, ...] = (
    "loss",
    "duplicate",
    "reorder",
    "partition",
    "clog",
    "filter",
    "crash",
    "pause",
    "outage",
    "clock",
    "storage",
)
"""Network and validator fault classes a run may switch on (swarm: each on or off per seed)."""

SCHEDULED_FAULTS: tuple[str, ...] = (
    "partition",
    "clog",
    "filter",
    "crash",
    "pause",
    "outage",
    "storage",
)
"""Classes that appear as intervals in the fault schedule (the rest are per-message rates)."""

STRATEGIES: tuple[str, ...] = (
    "equivocate",
    "amnesia",
    "silent",
    "garbage",
    "flood",
    "lie_vr",
    "usurp",
    "forge",
    "cross_chain",
    "replay",
)
"""Byzantine strategy plug-ins, `sim.byzantine` (twins are configured apart: honest code under a
shared key)."""

POWER_PROFILES: tuple[str, ...] = (
    "equal",
    "random",
    "below_third",
    "above_third",
    "below_two_thirds",
    "above_two_thirds",
)
"""How voting power is spread; the last four tune the faulty validators' share around 1/3, 2/3."""

SIGNATURES: tuple[str, ...] = ("fast", "ed25519")

BUGS: tuple[str, ...] = NAMES
"""Planted bugs (`sim.planted.CATALOGUE`, test-only); a clean run plants none."""

MAX_VALIDATORS = 30


class ConfigError(ValueError):
    """A configuration value or override is invalid; the message names the key."""


@attrs.frozen
class SimConfig:
    """Everything one run does, apart from the fault schedule derived from it."""

    seed: int
    validators: int
    powers: tuple[int, ...]
    power_profile: str
    byzantine: tuple[tuple[int, str], ...]  # (validator index, strategy), sorted by index
    twins: tuple[int, ...]  # validator indices that run a second honest instance
    signatures: str
    timeout_propose_ms: int
    timeout_propose_delta_ms: int
    timeout_prevote_ms: int
    timeout_prevote_delta_ms: int
    timeout_precommit_ms: int
    timeout_precommit_delta_ms: int
    max_block_txs: int
    empty_block_interval_ms: int  # 0: propose (possibly empty) blocks at once
    faults: tuple[str, ...]  # enabled fault classes, in FAULT_CLASSES order
    latency_min_ms: int
    latency_mean_ms: int  # mean of the exponential part, per link scaled by a link factor
    loss: float
    duplicate: float
    reorder: float
    fault_interval_ms: int  # mean gap between scheduled faults
    fault_duration_ms: int  # mean length of a scheduled fault
    clock_offset_max_ms: int
    clock_drift_max_ppm: int
    safety_ms: int  # length of the safety phase (faults on)
    liveness_ms: int  # bound for the liveness phase
    liveness_heights: int  # new heights every core validator must commit after the heal
    tx_per_s: int
    invalid_tx_pct: int
    bugs: tuple[str, ...] = ()
    disk_sync_ms: int = 2  # mean time a durable write's sync takes (a slow-disk fault: longer)
    disk_lies: tuple[int, ...] = ()  # validators whose disks lie about fsync (beyond the model)

    @property
    def total_power(self) -> int:
        return sum(self.powers)

    @property
    def faulty(self) -> tuple[int, ...]:
        """Validators outside the model of a correct node: Byzantine strategies, twins, and
        disks that lie about fsync (a validator that can lose what it signed is amnesiac)."""
        return tuple(sorted({i for i, _ in self.byzantine} | set(self.twins) | set(self.disk_lies)))

    @property
    def faulty_power(self) -> int:
        return sum(self.powers[i] for i in self.faulty)

    @property
    def within_budget(self) -> bool:
        """True when the faulty validators hold less than 1/3 of the power."""
        return 3 * self.faulty_power < self.total_power

    def strategy_of(self, index: int) -> str | None:
        for i, strategy in self.byzantine:
            if i == index:
                return strategy
        return None

    def validate(self) -> None:
        """Raise ConfigError naming the first inconsistent key."""
        n = self.validators
        if not 1 <= n <= MAX_VALIDATORS:
            raise ConfigError(f"validators: expected 1..{MAX_VALIDATORS}, got {n}")
        if len(self.powers) != n or any(p <= 0 for p in self.powers):
            raise ConfigError(f"powers: expected {n} positive integers, got {self.powers}")
        for i, strategy in self.byzantine:
            if not 0 <= i < n or strategy not in STRATEGIES:
                raise ConfigError(f"byzantine: bad entry {i}:{strategy}")
        if len({i for i, _ in self.byzantine}) != len(self.byzantine):
            raise ConfigError("byzantine: a validator is listed twice")
        if any(not 0 <= i < n for i in self.twins) or len(set(self.twins)) != len(self.twins):
            raise ConfigError(f"twins: expected distinct indices below {n}, got {self.twins}")
        if any(not 0 <= i < n for i in self.disk_lies):
            raise ConfigError(f"disk_lies: expected indices below {n}, got {self.disk_lies}")
        if set(self.twins) & {i for i, _ in self.byzantine}:
            raise ConfigError("twins: a twin cannot also run a Byzantine strategy")
        for name in ("signatures", "power_profile"):
            allowed = SIGNATURES if name == "signatures" else POWER_PROFILES
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name}: expected one of {', '.join(allowed)}")
        for fault in self.faults:
            if fault not in FAULT_CLASSES:
                raise ConfigError(f"faults: unknown class {fault!r}")
        for bug in self.bugs:
            if bug not in BUGS:
                raise ConfigError(f"bugs: unknown bug {bug!r} (known: {', '.join(BUGS)})")
        for name in ("loss", "duplicate", "reorder"):
            if not 0.0 <= getattr(self, name) <= 0.9:
                raise ConfigError(f"{name}: expected a probability in [0, 0.9]")
        for field in attrs.fields(SimConfig):
            value = getattr(self, field.name)
            if field.type == "int" and (value < 0 or isinstance(value, bool)):
                raise ConfigError(f"{field.name}: expected a non-negative integer")
        for name in ("timeout_propose_ms", "timeout_prevote_ms", "timeout_precommit_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected at least 1 ms")
        if self.liveness_heights < 1 or self.max_block_txs < 1 or self.fault_interval_ms < 1:
            raise ConfigError("liveness_heights, max_block_txs, fault_interval_ms: at least 1")
        if self.invalid_tx_pct > 100:
            raise ConfigError("invalid_tx_pct: expected 0..100")


def _parse_int_tuple(text: str) -> tuple[int, ...]:
    if text.strip() in ("", "none"):
        return ()
    return tuple(int(part) for part in text.split(",") if part.strip())


def _parse_names(text: str) -> tuple[str, ...]:
    if text.strip() in ("", "none"):
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parse_byzantine(text: str) -> tuple[tuple[int, str], ...]:
    entries = []
    for part in _parse_names(text):
        index, _, strategy = part.partition(":")
        entries.append((int(index), strategy or "equivocate"))
    return tuple(sorted(entries))


_PARSERS: dict[str, Callable[[str], object]] = {
    "int": int,
    "float": float,
    "str": str,
    "tuple[int, ...]": _parse_int_tuple,
    "tuple[str, ...]": _parse_names,
    "tuple[tuple[int, str], ...]": _parse_byzantine,
}


def parse_overrides(pairs: Iterable[str]) -> dict[str, object]:
    """Parse `key=value` strings into typed values; ConfigError names any bad key or value."""
    types = {f.name: f.type for f in attrs.fields(SimConfig)}
    result: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"override {pair!r}: expected key=value")
        if key not in types or key == "seed":
            raise ConfigError(f"{key}: not a configuration key (see `depositnet sim run --help`)")
        parser = _PARSERS[str(types[key])]
        try:
            result[key] = parser(text.strip())
        except ValueError as exc:
            raise ConfigError(f"{key}: cannot parse {text!r} ({exc})") from None
    if "faults" in result:
        wanted = result["faults"]
        assert isinstance(wanted, tuple)
        unknown = [f for f in wanted if f not in FAULT_CLASSES]
        if unknown:
            raise ConfigError(f"faults: unknown class {unknown[0]!r}")
        result["faults"] = tuple(f for f in FAULT_CLASSES if f in wanted)
    return result


def format_overrides(overrides: Mapping[str, object]) -> list[str]:
    """The `key=value` strings that `parse_overrides` turns back into `overrides`."""
    out = []
    for key in sorted(overrides):
        value = overrides[key]
        if key == "byzantine":
            assert isinstance(value, tuple)
            text = ",".join(f"{i}:{s}" for i, s in value) or "none"
        elif isinstance(value, tuple):
            text = ",".join(str(v) for v in value) or "none"
        else:
            text = str(value)
        out.append(f"{key}={text}")
    return out


def describe(config: SimConfig) -> str:
    """The whole configuration, one `key = value` per line, as printed at the start of a run."""
    lines = []
    for field in attrs.fields(SimConfig):
        lines.append(f"  {field.name:<26} = {getattr(config, field.name)}")
    lines.append(f"  {'faulty power':<26} = {config.faulty_power}/{config.total_power}")
    return "\n".join(lines)
