"""Genesis documents: TOML and JSON, every bad field named, the example file valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.genesis import GenesisError, load_genesis, parse_genesis
from tests.ledger.support import genesis

EXAMPLE = Path(__file__).parents[2] / "configs" / "genesis.example.toml"


def test_example_file_loads() -> None:
    g = load_genesis(EXAMPLE)
    assert g.chain_id == "depositnet-devnet-1"
    assert len(g.validator_set().validators) == 4
    keys = [v.public_key for v in g.validator_set().validators]
    assert keys == sorted(keys)
    assert {c.code for c in g.currencies} == {"USD", "EUR"}


def test_json_and_mapping_round_trip(tmp_path: Path) -> None:
    g = genesis()
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(g.to_mapping()))
    assert load_genesis(path) == g
    assert parse_genesis(g.to_mapping()).app_hash0 == g.app_hash0
    assert g.validator_set().total_power == 40


def _with(path: str, value: object) -> dict[str, object]:
    doc = genesis().to_mapping()
    *parents, last = path.split(".")
    node: object = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
    if value is KeyError:
        del node[last]  # type: ignore[attr-defined]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value  # type: ignore[index]
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("chain_id", "has space", "chain_id"),
        ("chain_id", KeyError, "missing field(s) chain_id"),
        ("validators", [], "validators: at least one"),
        ("validators.0.power", 0, "validators[0].power"),
        ("validators.0.power", True, "validators[0].power: expected an integer"),
        ("validators.1.public_key", "zz", "validators[1].public_key"),
        ("validators.0.colour", "red", "validators[0]: unknown field(s) colour"),
        ("currencies.0.code", "usd", "currencies[0].code"),
        ("currencies.1.scale", 19, "currencies[1].scale"),
        ("currencies.0.issuer", 5, "currencies[0].issuer"),
        ("currencies.0.mint_allowance", -1, "currencies[0].mint_allowance"),
        ("currencies.0.mint_allowance", 1.5, "currencies[0].mint_allowance"),
        ("governors", [], "governors: at least one"),
        ("compliance", "abc", "compliance: expected a list"),
        ("limits.max_tx_bytes", 10, "limits.max_tx_bytes"),
        ("limits.max_validity_window_ms", 59_999, "limits.max_validity_window_ms"),
        ("extra", 1, "genesis: unknown field(s) extra"),
        ("genesis_time_ms", -1, "genesis_time_ms: -1 is outside"),
        ("genesis_time_ms", 10**16, "genesis_time_ms"),
        ("genesis_time_ms", 1.5, "genesis_time_ms: expected an integer"),
        ("genesis_time_ms", "2026-01-01", "genesis_time_ms: expected an integer"),
    ],
)
def test_bad_fields_are_named(path: str, value: object, message: str) -> None:
    with pytest.raises(GenesisError) as info:
        parse_genesis(_with(path, value))
    assert message in str(info.value)


def test_duplicates_are_refused() -> None:
    doc = genesis().to_mapping()
    doc["currencies"] = [doc["currencies"][0], doc["currencies"][0]]  # type: ignore[index]
    with pytest.raises(GenesisError, match="duplicate code"):
        parse_genesis(doc)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(GenesisError, match="cannot read"):
        load_genesis(tmp_path / "missing.toml")
    bad = tmp_path / "g.toml"
    bad.write_text("chain_id = ")
    with pytest.raises(GenesisError, match="not valid toml"):
        load_genesis(bad)
    dup = tmp_path / "g.json"
    dup.write_text('{"chain_id": "a", "chain_id": "b"}')
    with pytest.raises(GenesisError, match="duplicate JSON key"):
        load_genesis(dup)
    arr = tmp_path / "a.json"
    arr.write_text("[1]")
    with pytest.raises(GenesisError, match="table/object"):
        load_genesis(arr)


def test_genesis_time_is_optional_and_round_trips() -> None:
    doc = genesis().to_mapping()
    assert doc["genesis_time_ms"] == 0
    del doc["genesis_time_ms"]  # documents written before the field existed
    assert parse_genesis(doc).genesis_time_ms == 0
    doc["genesis_time_ms"] = 1_767_225_600_000  # 2026-01-01
    timed = parse_genesis(doc)
    assert timed.genesis_time_ms == 1_767_225_600_000
    assert parse_genesis(timed.to_mapping()) == timed
    assert timed.app_hash0 == genesis().app_hash0  # chain time is not ledger state
