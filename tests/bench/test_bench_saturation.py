"""The saturation search's step logic, driven by made-up step results (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import saturation


def step(offered: float, committed: float, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "offered_tps": offered,
        "achieved_offered_tps": offered,
        "committed_tps": committed,
        "submitted": int(offered * 10),
        "committed": int(committed * 10),
        "rejected": {},
        "uncommitted": 0,
        "window_full": 0,
    }
    values.update(extra)
    return values


def test_geometric_rates_grow_by_the_factor() -> None:
    assert saturation.geometric_rates(100, 1.5, 4) == [100.0, 150.0, 225.0, 337.5]
    with pytest.raises(ValueError):
        saturation.geometric_rates(100, 1.0, 3)
    with pytest.raises(ValueError):
        saturation.geometric_rates(0, 2, 3)
    for start, factor, count in ((float("nan"), 2, 3), (100, float("inf"), 3), (100, 2, 101)):
        with pytest.raises(ValueError, match="--max-steps"):
            saturation.geometric_rates(start, factor, count)
    with pytest.raises(ValueError, match="not finite"):
        saturation.geometric_rates(1e300, 1e300, 3)  # overflows


@pytest.mark.parametrize(
    "text", ["", "a,b", "100,50", "100,100", "-5,10", "0", "100,inf", "nan", "100,nan"]
)
def test_parse_rates_refuses_bad_lists(text: str) -> None:
    with pytest.raises(ValueError, match="--steps"):
        saturation.parse_rates(text)


def test_parse_rates_reads_increasing_numbers() -> None:
    assert saturation.parse_rates("100, 200,400.5") == [100.0, 200.0, 400.5]


def test_a_step_that_keeps_up_has_no_reasons() -> None:
    assert saturation.saturation_reasons(step(100, 95)) == []


def test_each_kind_of_saturation_is_named() -> None:
    assert "committed" in saturation.saturation_reasons(step(100, 80))[0]
    slow = saturation.saturation_reasons(step(100, 100, achieved_offered_tps=70, window_full=3))
    assert slow == ["could only send 70/s (validators slow to answer)"]
    starved = saturation.saturation_reasons(step(100, 100, achieved_offered_tps=70))
    assert starved == ["could only send 70/s (load generator starved)"]
    refused = saturation.saturation_reasons(step(100, 100, rejected={"MEMPOOL_FULL": 11}))
    assert refused == ["11 refused at submit"]
    lost = saturation.saturation_reasons(step(100, 100, uncommitted=11))
    assert lost == ["11 never seen committed"]
    # within the 1% allowance: not saturated
    assert saturation.saturation_reasons(step(100, 100, uncommitted=10)) == []


def test_search_stops_at_the_first_saturated_step() -> None:
    capacity = 300.0
    asked: list[float] = []

    def run(rate: float) -> dict[str, Any]:
        asked.append(rate)
        return step(rate, min(rate, capacity))

    steps = saturation.search([100, 200, 400, 800], run)
    assert asked == [100, 200, 400]
    assert [s["saturated"] for s in steps] == [False, False, True]
    assert steps[-1]["saturation_reasons"]
    assert saturation.found_saturation(steps)
    assert saturation.sustained_tps(steps) == 300.0
    assert saturation.half_load(steps) == 150.0


def test_search_without_saturation_runs_every_step() -> None:
    steps = saturation.search([10, 20], lambda rate: step(rate, rate))
    assert len(steps) == 2
    assert not saturation.found_saturation(steps)
    assert saturation.sustained_tps([]) == 0.0


def test_cpu_per_transfer_is_the_mean_validator_cpu_over_committed() -> None:
    s = {**step(100, 100), "committed": 1000, "validators": [{"cpu_s": 2.0}, {"cpu_s": 4.0}]}
    assert saturation.per_transfer_cpu(s) == pytest.approx(0.003)
    assert saturation.per_transfer_cpu(step(1, 0, validators=[{"cpu_s": 1}])) is None
    assert saturation.per_transfer_cpu(step(1, 1)) is None
    # 2 validators at 3 ms each on 2 cores: 1/0.003 transfers/s
    assert saturation.cpu_bound_tps(s, cores=2) == pytest.approx(333.33, rel=1e-3)
    assert saturation.cpu_bound_tps(step(1, 1), cores=2) is None
