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


def sample(t: float, *anon_mib: float, file_mib: float = 50.0) -> dict[str, Any]:
    return {
        "t_s": t,
        "validators": [
            {
                "rss_anon_bytes": int(a * 2**20),
                "rss_file_bytes": int((file_mib + t) * 2**20),
                "vm_rss_bytes": int((a + file_mib + t) * 2**20),
                "cpu_s": t / 2,
                "data_file_bytes": int((60 + t) * 2**20),
                "data_file_allocated_bytes": int((58 + t) * 2**20),
            }
            for a in anon_mib
        ],
    }


def sampled_soak(
    samples: list[dict[str, Any]], problems: list[str] | None = None
) -> dict[str, Any]:
    return {
        "seconds": 40.0,
        "offered_tps": 150.0,
        "achieved_offered_tps": 149.0,
        "committed_tps": 148.0,
        "uncommitted": 0,
        "rejected": {},
        "latency_p50_s": 0.1,
        "latency_p99_s": 0.3,
        "heights_per_s": 8.0,
        "max_send_gap_s": 0.3,
        "sample_interval_s": 10.0,
        "samples": samples,
        "problems": problems or [],
    }


def test_rss_anon_is_judged_from_the_soaks_midpoint_to_its_end() -> None:
    assert report.is_flat(100 * 2**20, 110 * 2**20)  # 10%
    assert not report.is_flat(100 * 2**20, 111 * 2**20)
    assert report.is_flat(50 * 2**20, 60 * 2**20)  # 20%, but within 10 MiB
    assert not report.is_flat(50 * 2**20, 61 * 2**20)
    assert report.is_flat(100 * 2**20, 80 * 2**20)  # shrinking is flat
    # v0 fills its caches in the first half (+60 MiB) and then stays; v1 keeps growing
    samples = [
        sample(0, 100, 100),
        sample(10, 140, 120),
        sample(20, 160, 140),
        sample(31, 162, 160),
        sample(41, 165, 180),
    ]
    summary = report.memory_summary(samples)
    assert summary[0] is not None and summary[1] is not None
    assert summary[0]["t_mid"] == 20.0  # the sample nearest 41 / 2
    assert (summary[0]["anon_start"], summary[0]["anon_mid"], summary[0]["anon_end"]) == (
        100 * 2**20, 160 * 2**20, 165 * 2**20,
    )  # fmt: skip
    assert summary[0]["flat"] and not summary[1]["flat"]
    assert summary[0]["file_end"] == 91 * 2**20 and summary[0]["data_file_end"] == 101 * 2**20
    assert summary[0]["cpu_s"] == 20.5
    res = result(soak=sampled_soak(samples))
    memory = res["targets"][2]
    assert memory["met"] is False
    assert (
        "v0 RssAnon 100->165 MiB (+65), second half 160->165 MiB (+5: flat)" in memory["measured"]
    )
    assert (
        "v1 RssAnon 100->180 MiB (+80), second half 140->180 MiB (+40: GROWING)"
        in (memory["measured"])
    )
    assert "RssFile 50->91 MiB beside data.mdb 60->101 MiB" in memory["measured"]
    assert "against the sample nearest the midpoint (t=20 s)" in memory["measured"]
    assert "max(10%, 10 MiB)" in memory["target"]
    flat = [sample(t, 100 + t / 4, 100) for t in (0, 10, 20, 30, 40)]
    assert result(soak=sampled_soak(flat))["targets"][2]["met"] is True
    invalid = result(soak=sampled_soak(flat, ["sent 10 of 6000 transfers"]))["targets"][2]
    assert invalid["met"] is False and "INVALID LOAD: sent 10 of 6000" in invalid["measured"]
    text = report.markdown(res)
    assert "## Soak" in text
    assert "The chain made 8.0 heights/s; the longest pause between two sends was 300 ms." in text
    assert "| 1 | 100 MiB | 140 MiB (20 s) | 180 MiB (41 s) | +40 MiB GROWING |" in text
    older = sampled_soak(samples)  # a result from before the gap was measured
    del older["max_send_gap_s"]
    older["heights_per_s_range"] = [6.0, 10.0]
    assert "The chain made 8.0 heights/s. Sampled" in report.markdown(result(soak=older))
    gone = [sample(0, 100), {"t_s": 10.0, "validators": [None]}]
    assert report.memory_summary(gone) == [None]
    assert result(soak=sampled_soak(gone))["targets"][2]["met"] is False


def test_soak_svg_draws_rss_anon_and_rss_file_per_validator(tmp_path: Path) -> None:
    samples = [sample(t, 100 + t, 120) for t in (0, 10, 20)]
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(report.svg_memory(samples))
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 4  # RssAnon and RssFile of 2 validators
    assert all(len(line.get("points", "").split()) == 3 for line in lines)
    assert [line.get("stroke-dasharray") for line in lines] == [None, "5,4", None, "5,4"]
    paths = report.write(result(soak=sampled_soak(samples)), tmp_path, "network-y")
    assert [p.name for p in paths][3:] == ["network-y-soak.svg"]
    ET.fromstring(paths[3].read_text())


def test_soak_and_catchup_targets() -> None:
    soak: dict[str, Any] = {  # a result from before the soak was sampled: VmRSS only
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
