"""Rendering a bench result: targets judged from the figures, Markdown tables, the SVG plot."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from bench import report


def step(offered: float, committed: float, p99: float | None) -> dict[str, Any]:
    return {
        "offered_tps": offered,
        "achieved_offered_tps": offered,
        "committed_tps": committed,
        "committed": int(committed * 20),
        "submitted": int(offered * 20),
        "rejected": {},
        "uncommitted": 0,
        "latency_p50_s": None if p99 is None else p99 / 2,
        "latency_p99_s": p99,
        "latency_max_s": None if p99 is None else p99 * 1.2,
        "validators": [{"cpu_s": 10.0}, {"cpu_s": 12.0}],
        "saturated": committed < 0.9 * offered,
        "saturation_reasons": ["committed low"] if committed < 0.9 * offered else [],
    }


def result(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "meta": {
            "date": "2026-01-01T00:00:00",
            "git_commit": "abc1234",
            "validators": 4,
            "cores": 2,
            "load_average_start": [1.0, 1.0, 1.0],
            "load_average_end": [2.0, 1.0, 1.0],
        },
        "ceiling": {
            "verify_rate": 16000.0,
            "verify_rate_start": {"per_cpu_s": 16500.0, "per_wall_s": 9000.0},
            "verify_rate_end": {"per_cpu_s": 15500.0, "per_wall_s": 8000.0},
            "verify_rate_wall": 8500.0,
            "ceiling_tps": 8000.0,
            "ceiling_wall_tps": 4250.0,
        },
        "steps": [step(100, 100, 0.4), step(200, 150, 2.5)],
        "sustained_tps": 150.0,
        "fraction_of_ceiling": 150 / 8000,
        "saturation_found": True,
        "half_load": step(75, 75, 0.3),
        "profile": {
            "validator": 0,
            "samples": 1000,
            "offered_tps": 150.0,
            "cpu_per_transfer_s": 0.002,
            "breakdown": {"signature checks": 0.25, "other": 0.75},
            "step": {"heights": [0, 100], "committed": 2000},
        },
        "soak": None,
    }
    base.update(overrides)
    base["targets"] = report.targets(base)
    return base


def verdicts(res: dict[str, Any]) -> list[bool | None]:
    return [t["met"] for t in res["targets"]]


def test_targets_are_judged_from_the_figures() -> None:
    assert verdicts(result()) == [False, True, None, None]
    good = result(sustained_tps=5200.0, half_load=step(2500, 2500, 1.5))
    assert verdicts(good) == [True, False, None, None]
    assert "5200/s = 65% of 8000/s" in good["targets"][0]["measured"]


def test_soak_and_catchup_targets() -> None:
    soak: dict[str, Any] = {
        "seconds": 600.0,
        "offered_tps": 150.0,
        "validators": [
            {"rss_start_bytes": 100 * 2**20, "rss_end_bytes": 105 * 2**20},
            {"rss_start_bytes": 100 * 2**20, "rss_end_bytes": 111 * 2**20},
        ],
    }
    catchup = {"blocks": 10000, "live_blocks_per_s": 10.0, "catchup_blocks_per_s": 60.0,
               "speedup": 6.0}  # fmt: skip
    res = result(soak=soak, catchup=catchup)
    assert verdicts(res)[2:] == [False, True]  # one validator grew 11%
    assert "100->111 MiB" in res["targets"][2]["measured"]
    soak["validators"] = soak["validators"][:1]
    assert result(soak=soak)["targets"][2]["met"] is True


def test_half_load_with_nothing_committed_does_not_meet_the_latency_target() -> None:
    res = result(half_load=step(75, 0, None))
    assert res["targets"][1]["met"] is False
    assert "nothing committed" in res["targets"][1]["measured"]


def test_markdown_has_a_row_per_step_and_every_verdict() -> None:
    text = report.markdown(result())
    assert "| 100 | 100 | 100 | 200 ms | 400 ms | 480 ms | 5.50 | 182 | no |" in text
    assert "| 200 | 200 | 150 | 1250 ms | 2500 ms | 3000 ms | 3.67 | 273 | committed low |" in text
    assert "**8,000 transfers/s**" in text
    # 2,000 us measured; signatures 1 + 7 x 100 / 2,000 = 1.35 x 62.5 us = 84 us, and a
    # quarter of the other 1,916 us (GIL-held wrapper samples): 563 us
    assert "| signature checks | 28.2% | 563 | 25.0% |" in text
    assert "| other | 71.8% | 1437 | 75.0% |" in text
    assert "| **total** | 100% | **2000** | 100% |" in text
    assert "1.350 verifications per transfer = 84 us" in text
    assert "py-spy `--gil` samples only the thread holding the GIL" in text
    assert "NOT met" in text and "| met |" in text and "not run" in text
    assert "Besu QBFT" in text


def test_svg_is_well_formed_with_one_point_per_step() -> None:
    steps = [step(100, 100, 0.4), step(200, 150, 2.5), step(300, 140, None)]
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(report.svg_plot(steps, 400.0))
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 5  # committed, offered, ceiling | p50, p99
    assert all(len(line.get("points", "").split()) == 3 for line in lines)
    assert len(root.findall(f"{ns}circle")) == 15
    far = report.svg_plot(steps, 8000.0)  # a ceiling far above the data is named, not drawn
    assert len(ET.fromstring(far).findall(f"{ns}polyline")) == 4
    assert "ceiling 8,000/s is off the scale" in far
    assert report.svg_plot([], 1.0).startswith("<svg")


def test_write_puts_json_markdown_and_svg_side_by_side(tmp_path: Path) -> None:
    res = result()
    paths = report.write(res, tmp_path / "out", "network-x")
    assert [p.name for p in paths] == ["network-x.json", "network-x.md", "network-x.svg"]
    assert json.loads(paths[0].read_text())["sustained_tps"] == 150.0
    assert paths[1].read_text() == report.markdown(res)
    ET.fromstring(paths[2].read_text())
