from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.config import ConfigError, describe, format_overrides, parse_overrides
from sim.swarm import derive_config, tuned_powers


def test_a_seed_derives_the_same_configuration_every_time() -> None:
    assert derive_config(42) == derive_config(42)
    assert describe(derive_config(42)) == describe(derive_config(42))


def test_swarm_draws_vary_and_stay_in_range() -> None:
    configs = [derive_config(seed) for seed in range(60)]
    assert {c.validators for c in configs} <= set(range(4, 11))
    assert len({c.validators for c in configs}) >= 4
    assert len({c.faults for c in configs}) >= 20  # fault classes switched on and off per seed
    assert any(c.byzantine for c in configs) and any(not c.byzantine for c in configs)
    assert any(c.twins for c in configs)
    assert any(not c.within_budget for c in configs)
    for config in configs:
        config.validate()
        assert len(config.powers) == config.validators


def test_an_override_leaves_every_other_option_alone() -> None:
    plain = derive_config(7)
    changed = derive_config(7, {"max_block_txs": plain.max_block_txs + 1})
    assert attrs.evolve(changed, max_block_txs=plain.max_block_txs) == plain
    slower = derive_config(7, {"timeout_prevote_ms": plain.timeout_prevote_ms + 100})
    assert slower.liveness_ms > plain.liveness_ms  # derived from the timeouts
    no_faults = derive_config(7, {"faults": ()})
    assert no_faults.loss == no_faults.duplicate == no_faults.reorder == 0.0
    assert no_faults.clock_offset_max_ms == 0 and no_faults.validators == plain.validators


def test_overrides_parse_round_trip_and_bad_ones_name_the_key() -> None:
    parsed = parse_overrides(
        ["validators=5", "byzantine=0:equivocate,3:silent", "faults=crash,loss", "loss=0.1"]
    )
    assert parsed["byzantine"] == ((0, "equivocate"), (3, "silent"))
    assert parsed["faults"] == ("loss", "crash")  # canonical class order
    assert parse_overrides(format_overrides(parsed)) == parsed
    for bad, key in [
        ("nonsense=1", "nonsense"),
        ("validators=many", "validators"),
        ("faults=meteor", "faults"),
        ("seed=3", "seed"),
    ]:
        with pytest.raises(ConfigError, match=key):
            parse_overrides([bad])
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["validators"])


def test_inconsistent_overrides_are_refused_with_the_key_named() -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"validators": 4, "byzantine": ((9, "silent"),)}, "byzantine"),
        ({"validators": 4, "powers": (1, 2)}, "powers"),
        ({"bugs": ("not_a_bug",)}, "bugs"),
        ({"loss": 2.0}, "loss"),
        ({"twins": (0,), "byzantine": ((0, "silent"),)}, "twins"),
    ]
    for overrides, key in cases:
        with pytest.raises(ConfigError, match=key):
            derive_config(1, overrides)


@given(
    n=st.integers(4, 10),
    faulty_count=st.integers(1, 3),
    profile=st.sampled_from(["below_third", "above_third", "below_two_thirds", "above_two_thirds"]),
)
def test_tuned_powers_sit_on_the_requested_side_of_the_threshold(
    n: int, faulty_count: int, profile: str
) -> None:
    import random

    faulty = tuple(range(faulty_count))
    powers = tuned_powers(n, faulty, profile, random.Random(0))
    f = sum(powers[i] for i in faulty)
    total = sum(powers)
    assert all(p > 0 for p in powers)
    if profile == "below_third":
        assert 3 * f < total
    elif profile == "above_third":
        assert 3 * f > total
    elif profile == "below_two_thirds":
        assert 3 * f < 2 * total
    else:
        assert 3 * f > 2 * total
