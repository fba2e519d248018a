"""`depositnet sim ...` through the real command-line entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from depositnet.cli import main

QUICK = ["--set", "validators=4", "--set", "safety_ms=800", "--set", "byzantine=none"]


def test_run_prints_the_configuration_and_a_summary_and_exits_zero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    trace, report = tmp_path / "trace.txt", tmp_path / "run.html"
    code = main(
        ["sim", "run", "--seed", "1", *QUICK, "--trace", str(trace), "--report", str(report)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "derived configuration" in out and "validators" in out and "outcome       pass" in out
    assert "trace digest" in out
    lines = trace.read_text().splitlines()
    assert lines[0].startswith("time_ms") and any(" recv " in line for line in lines)
    page = report.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "Seed 1" in page


def test_a_planted_bug_fails_with_its_exit_code_and_one_reproduction_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["sim", "run", "--seed", "0", *QUICK, "--bug", "send_before_persist", "--quiet"])
    out = capsys.readouterr().out
    assert code == 3
    repro = [line for line in out.splitlines() if "reproduce:" in line]
    assert len(repro) == 1
    assert "--seed 0" in repro[0] and "bugs=send_before_persist" in repro[0]


def test_bad_options_are_usage_errors_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "run", "--seed", "1", "--set", "validators=lots"]) == 2
    assert "validators" in capsys.readouterr().err
    assert main(["sim", "run", "--seed", "1", "--set", "warp_drive=1"]) == 2
    assert "warp_drive" in capsys.readouterr().err
    assert main(["sim", "sweep", "--seeds", "5..2"]) == 2
    assert "seeds" in capsys.readouterr().err
    assert main(["sim", "run", "--seed", "1", "--keep-faults", "a,b"]) == 2


def test_sweep_reports_counts_as_text_and_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_json = tmp_path / "sweep.json"
    code = main(
        ["sim", "sweep", "--seeds", "1..2", "--workers", "2", *QUICK, "--json", str(out_json)]
    )
    text = capsys.readouterr().out
    assert code == 0 and "seeds" in text and "events / s" in text
    data = json.loads(out_json.read_text())
    assert data["seeds"] == 2 and data["outcomes"]["pass"] == 2 and data["events"] > 0
    assert data["virtual_to_wall"] > 0


def test_shrink_minimises_a_failing_run(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "sim",
        "shrink",
        "--seed",
        "2",
        *QUICK,
        "--set",
        "faults=crash,pause,loss",
        "--bug",
        "send_before_persist",
        "--max-runs",
        "12",
    ]
    code = main(args)
    out = capsys.readouterr().out
    assert code == 3
    assert "smallest failing run: safety violation" in out
    assert "reproduce: depositnet sim run --seed 2" in out and "--keep-faults" in out
    assert main(["sim", "shrink", "--seed", "1", *QUICK, "--max-runs", "2"]) == 2
