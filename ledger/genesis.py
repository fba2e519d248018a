"""The genesis document: who validates, which currencies exist, who governs, and the limits.

Read from TOML or JSON (`load_genesis(path)`) or from an already parsed mapping
(`parse_genesis(mapping)`). Every field is validated and a bad one raises `GenesisError`
naming it (`currencies[1].issuer: expected 64 hex characters`); unknown fields are refused so
a typo never silently falls back to a default. Keys are written as 64 hex characters.

The genesis state (`Genesis.initial_writes()`) is an ordinary key/value map, so height 0 has
an app hash (`Genesis.app_hash0`) like every other height. Nothing in the store holds height 0:
`LedgerApp` folds the genesis writes into the writes of block 1.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

import attrs

from consensus.messages import Validator, ValidatorSet
from ledger.amounts import MAX_AMOUNT, MAX_U64
from ledger.txcodec import CHAIN_ID_RE, CURRENCY_RE, MAX_NAME_BYTES, MAX_SCALE

MAX_TIME_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z in Unix milliseconds: the latest genesis time accepted."""


MIN_VALIDITY_WINDOW_MS = 60_000
"""A window shorter than a minute would expire transactions during an ordinary round change."""
MAX_VALIDITY_WINDOW_MS = 7 * 86_400_000
"""A week: beyond that a signed payment instruction is a liability, not a convenience."""


class GenesisError(ValueError):
    """A genesis document that is unreadable or invalid; the message names the field."""


@attrs.frozen
class Limits:
    max_tx_bytes: int = 2048
    max_validity_window_ms: int = 600_000
    """How far ahead of a block's time a transaction's `valid_until_ms` may lie (10 minutes):
    long enough for clients to retry through outages, short enough that a signed payment
    cannot wait for days before it executes."""
    max_memo_bytes: int = 256


@attrs.frozen
class GenesisValidator:
    name: str
    public_key: bytes
    power: int


@attrs.frozen
class GenesisCurrency:
    code: str
    scale: int
    issuer: bytes
    mint_allowance: int = 0  # the issuer's initial allowance


@attrs.frozen
class GenesisParticipant:
    key: bytes
    name: str
    kyc_expiry_height: int


@attrs.frozen
class Genesis:
    chain_id: str
    validators: tuple[GenesisValidator, ...]
    currencies: tuple[GenesisCurrency, ...]
    governors: tuple[bytes, ...]
    compliance: tuple[bytes, ...]
    limits: Limits = Limits()
    participants: tuple[GenesisParticipant, ...] = ()
    genesis_time_ms: int = 0
    """Chain time at height 0 (Unix ms): block 1's time must exceed it, and each block may
    exceed its predecessor by a bounded step, so a new chain starts near this time, not 1970."""

    def validator_set(self) -> ValidatorSet:
        """The validators of height 1, sorted by public key."""
        members = sorted(self.validators, key=lambda v: v.public_key)
        return ValidatorSet(tuple(Validator(v.public_key, v.power, v.name) for v in members))

    def initial_writes(self) -> dict[bytes, bytes]:
        """The genesis state as key/value entries (what block 1 persists besides its own)."""
        from ledger.state import genesis_entries

        return genesis_entries(self)

    @property
    def app_hash0(self) -> bytes:
        """The app hash of the genesis state (height 0)."""
        from ledger.apphash import Accumulator

        return Accumulator.of_state(self.initial_writes()).app_hash(0)

    def to_mapping(self) -> dict[str, object]:
        """A JSON/TOML-ready mapping that `parse_genesis` reads back to an equal value."""
        return {
            "chain_id": self.chain_id,
            "genesis_time_ms": self.genesis_time_ms,
            "limits": attrs.asdict(self.limits),
            "governors": [k.hex() for k in self.governors],
            "compliance": [k.hex() for k in self.compliance],
            "validators": [
                {"name": v.name, "public_key": v.public_key.hex(), "power": v.power}
                for v in self.validators
            ],
            "currencies": [
                {
                    "code": c.code,
                    "scale": c.scale,
                    "issuer": c.issuer.hex(),
                    "mint_allowance": c.mint_allowance,
                }
                for c in self.currencies
            ],
            "participants": [
                {"key": p.key.hex(), "name": p.name, "kyc_expiry_height": p.kyc_expiry_height}
                for p in self.participants
            ],
        }


# ---------------------------------------------------------------- parsing

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _table(
    value: object, where: str, allowed: set[str], required: set[str]
) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise GenesisError(f"{where}: expected a table, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise GenesisError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    missing = sorted(required - set(value))
    if missing:
        raise GenesisError(f"{where}: missing field(s) {', '.join(missing)}")
    return value


def _int(value: object, where: str, low: int, high: int) -> int:
    if type(value) is not int:
        raise GenesisError(f"{where}: expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise GenesisError(f"{where}: {value} is outside {low}..{high}")
    return value


def _key(value: object, where: str) -> bytes:
    if type(value) is not str or not _HEX64.fullmatch(value):
        raise GenesisError(f"{where}: expected 64 hex characters (a 32-byte public key)")
    return bytes.fromhex(value)


def _name(value: object, where: str) -> str:
    if type(value) is not str or not 1 <= len(value.encode("utf-8")) <= MAX_NAME_BYTES:
        raise GenesisError(f"{where}: expected a name of 1..{MAX_NAME_BYTES} bytes")
    return value


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise GenesisError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _keys(value: object, where: str) -> tuple[bytes, ...]:
    keys = tuple(_key(k, f"{where}[{i}]") for i, k in enumerate(_list(value, where)))
    if len(set(keys)) != len(keys):
        raise GenesisError(f"{where}: duplicate key")
    return keys


def _limits(value: object) -> Limits:
    t = _table(value, "limits", {f.name for f in attrs.fields(Limits)}, set())
    defaults = Limits()
    return Limits(
        max_tx_bytes=_int(
            t.get("max_tx_bytes", defaults.max_tx_bytes), "limits.max_tx_bytes", 256, 1 << 20
        ),
        max_validity_window_ms=_int(
            t.get("max_validity_window_ms", defaults.max_validity_window_ms),
            "limits.max_validity_window_ms",
            MIN_VALIDITY_WINDOW_MS,
            MAX_VALIDITY_WINDOW_MS,
        ),
        max_memo_bytes=_int(
            t.get("max_memo_bytes", defaults.max_memo_bytes), "limits.max_memo_bytes", 0, 4096
        ),
    )


def _validator(value: object, where: str) -> GenesisValidator:
    t = _table(value, where, {"name", "public_key", "power"}, {"name", "public_key", "power"})
    return GenesisValidator(
        name=_name(t["name"], f"{where}.name"),
        public_key=_key(t["public_key"], f"{where}.public_key"),
        power=_int(t["power"], f"{where}.power", 1, 2**60),
    )


def _currency(value: object, where: str) -> GenesisCurrency:
    fields = {"code", "scale", "issuer", "mint_allowance"}
    t = _table(value, where, fields, {"code", "scale", "issuer"})
    code = t["code"]
    if type(code) is not str or not CURRENCY_RE.fullmatch(code):
        raise GenesisError(f"{where}.code: expected 3-12 uppercase letters A-Z")
    return GenesisCurrency(
        code=code,
        scale=_int(t["scale"], f"{where}.scale", 0, MAX_SCALE),
        issuer=_key(t["issuer"], f"{where}.issuer"),
        mint_allowance=_int(t.get("mint_allowance", 0), f"{where}.mint_allowance", 0, MAX_AMOUNT),
    )


def _participant(value: object, where: str) -> GenesisParticipant:
    fields = {"key", "name", "kyc_expiry_height"}
    t = _table(value, where, fields, fields)
    return GenesisParticipant(
        key=_key(t["key"], f"{where}.key"),
        name=_name(t["name"], f"{where}.name"),
        kyc_expiry_height=_int(t["kyc_expiry_height"], f"{where}.kyc_expiry_height", 0, MAX_U64),
    )


def _unique(items: tuple[object, ...], key: str, where: str) -> None:
    seen: set[object] = set()
    for item in items:
        value = getattr(item, key)
        if value in seen:
            raise GenesisError(f"{where}: duplicate {key} {value!r}")
        seen.add(value)


def parse_genesis(mapping: Mapping[str, object]) -> Genesis:
    """Validate a parsed genesis document; raises GenesisError naming the first bad field."""
    allowed = {
        "chain_id",
        "genesis_time_ms",
        "limits",
        "validators",
        "currencies",
        "governors",
        "compliance",
        "participants",
    }
    t = _table(mapping, "genesis", allowed, {"chain_id", "validators", "governors", "compliance"})
    chain_id = t["chain_id"]
    if type(chain_id) is not str or not CHAIN_ID_RE.fullmatch(chain_id):
        raise GenesisError("chain_id: expected 1-64 characters [A-Za-z0-9._-]")
    validators = tuple(
        _validator(v, f"validators[{i}]")
        for i, v in enumerate(_list(t["validators"], "validators"))
    )
    if not validators:
        raise GenesisError("validators: at least one validator is required")
    _unique(validators, "public_key", "validators")
    currencies = tuple(
        _currency(c, f"currencies[{i}]")
        for i, c in enumerate(_list(t.get("currencies", []), "currencies"))
    )
    _unique(currencies, "code", "currencies")
    participants = tuple(
        _participant(p, f"participants[{i}]")
        for i, p in enumerate(_list(t.get("participants", []), "participants"))
    )
    _unique(participants, "key", "participants")
    governors = _keys(t["governors"], "governors")
    if not governors:
        raise GenesisError("governors: at least one governor is required")
    return Genesis(
        chain_id=chain_id,
        validators=validators,
        currencies=currencies,
        governors=governors,
        compliance=_keys(t["compliance"], "compliance"),
        limits=_limits(t.get("limits", {})),
        participants=participants,
        genesis_time_ms=_int(t.get("genesis_time_ms", 0), "genesis_time_ms", 0, MAX_TIME_MS),
    )


def load_genesis(path: str | Path) -> Genesis:
    """Read and validate a genesis file: `.toml` as TOML, anything else as JSON."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GenesisError(f"cannot read genesis file {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".toml":
            document: object = tomllib.loads(raw.decode("utf-8"))
        else:
            document = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise GenesisError(
            f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from None
    if not isinstance(document, Mapping):
        raise GenesisError(f"{path}: the document must be a table/object")
    return parse_genesis(document)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise GenesisError(f"duplicate JSON key {key!r}")
        result[key] = value
    return result
