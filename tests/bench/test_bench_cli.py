"""`depositnet bench` argument checks: bad input is a one-line error before anything starts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from depositnet.cli import build_parser, main


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--steps", "200,100"],
        ["bench", "--steps", "x"],
        ["bench", "--validators", "0"],
        ["bench", "--step-seconds", "0"],
        ["bench", "--step-seconds", "nan"],
        ["bench", "--soak-seconds", "86401"],
        ["bench", "--steps", "100,inf"],
        ["bench", "--factor", "nan"],
        ["bench", "--max-steps", "101"],
        ["bench", "--steps", "10000", "--soak-seconds", "86400"],  # a window over 7 days
        ["bench", "catchup", "--blocks", "0"],
        ["bench", "sim", "--seeds", "-1"],
        ["bench", "sim", "--seconds", "0"],
    ],
)
def test_bad_arguments_are_refused_without_starting_a_network(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("depositnet: error: ")


def test_the_height_validity_window_option_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    """The window is in chain time now and sized by the harness: the old option is refused."""
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--validity-window", "400"])
    assert exited.value.code == 2
    assert "depositnet bench: error:" in capsys.readouterr().err


def test_bench_has_sim_and_catchup_kinds() -> None:
    def parse(argv: list[str]) -> argparse.Namespace:
        return build_parser(argv).parse_args(argv)

    assert parse(["bench", "sim", "--seconds", "3"]).seconds == 3
    assert parse(["bench", "catchup"]).blocks == 10_000
    args = parse(["bench", "--steps", "10,20", "--soak-seconds", "60"])
    assert (args.steps, args.soak_seconds, args.out) == ("10,20", 60.0, "bench/results")
    assert not hasattr(args, "validity_window")


def test_bench_sim_reports_heights_and_seeds_per_hour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny run of each figure: both signature schemes, and a sweep of one default seed."""
    assert main(["bench", "sim", "--seconds", "1", "--seeds", "1", "--out", str(tmp_path)]) == 0
    (report,) = tmp_path.glob("sim-*.json")
    data = json.loads(report.read_text())
    assert set(data["runs"]) == {"fast", "ed25519"}
    assert all(run["heights"] > 0 for run in data["runs"].values())
    assert data["sweep"]["seeds"] == 1 and data["sweep"]["seeds_per_hour"] > 0
    assert "seeds/hour" in next(tmp_path.glob("sim-*.md")).read_text()
