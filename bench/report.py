"""Writing a `depositnet bench` result: JSON (everything), Markdown (the tables) and an SVG plot.

The plot is plain SVG written here (two panels against offered load: committed transfers/s with
the ceiling and the offered = committed line, and latency p50/p99), so the benchmark needs no
plotting library. `targets` judges the issue's targets from the figures, met or not.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.profile_validator import cpu_table, vote_verifications_per_height
from bench.saturation import cpu_bound_tps, per_transfer_cpu

PUBLISHED = (
    ("Besu QBFT, 4 validators (token transfers)", "520-645 tx/s"),
    ("Tendermint 0.32, 2 validators", "about 400 tx/s"),
    ("CometBFT QA, 200 nodes, saturation", "about 400 tx/s"),
)
MEMORY_GROWTH_LIMIT = 0.10


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with what was measured and whether it is met (None: not run)."""
    out = []
    ceiling = result["ceiling"]["ceiling_tps"]
    fraction = result["sustained_tps"] / ceiling if ceiling else 0.0
    out.append(
        {
            "target": "sustained committed transfers/s >= 50% of the ceiling",
            "measured": f"{result['sustained_tps']:.0f}/s = {fraction:.0%} of {ceiling:.0f}/s",
            "met": fraction >= 0.5,
        }
    )
    half = result.get("half_load")
    p99 = half.get("latency_p99_s") if half else None
    out.append(
        {
            "target": "p99 submit-to-commit latency < 1 s at 50% of saturation load",
            "measured": "not run" if half is None else _latency_text(half),
            "met": None if half is None else (p99 is not None and p99 < 1.0),
        }
    )
    soak = result.get("soak")
    if soak:
        growth = [v["rss_end_bytes"] / v["rss_start_bytes"] - 1 for v in soak["validators"]]
        worst = max(growth)
        out.append(
            {
                "target": "RSS per validator flat over the soak "
                f"(growth <= {MEMORY_GROWTH_LIMIT:.0%})",
                "measured": f"{soak['seconds']:.0f} s at {soak['offered_tps']:.0f}/s offered: "
                + ", ".join(
                    f"{v['rss_start_bytes'] / 2**20:.0f}->{v['rss_end_bytes'] / 2**20:.0f} MiB"
                    for v in soak["validators"]
                )
                + (
                    f"; committed {soak['committed_tps']:.0f}/s over the soak's wall time"
                    if "committed_tps" in soak
                    else ""
                ),
                "met": worst <= MEMORY_GROWTH_LIMIT,
            }
        )
    else:
        out.append(
            {"target": "RSS per validator flat over a soak", "measured": "not run", "met": None}
        )
    catchup = result.get("catchup")
    out.append(
        {
            "target": "catch-up >= 5x faster than the live network committed",
            "measured": "not run (depositnet bench catchup)"
            if not catchup
            else f"{catchup['blocks']} blocks: live {catchup['live_blocks_per_s']:.1f}/s, "
            f"catch-up {catchup['catchup_blocks_per_s']:.1f}/s = {catchup['speedup']:.1f}x",
            "met": None if not catchup else catchup["speedup"] >= 5,
        }
    )
    return out


def _latency_text(step: dict[str, Any]) -> str:
    if step.get("latency_p99_s") is None:
        return f"at {step['offered_tps']:.0f}/s offered: nothing committed"
    return (
        f"at {step['offered_tps']:.0f}/s offered: p50 {_ms(step['latency_p50_s'])}, "
        f"p99 {_ms(step['latency_p99_s'])}, max {_ms(step['latency_max_s'])}"
    )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _met(value: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "not run"}[value]


def step_rows(steps: Sequence[dict[str, Any]], cores: int) -> list[str]:
    rows = [
        "| offered/s | sent/s | committed/s | p50 | p99 | max "
        "| CPU ms/transfer/validator | CPU-bound/s | saturated |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in steps:
        cpu = per_transfer_cpu(s)
        bound = cpu_bound_tps(s, cores)
        reasons = "; ".join(s.get("saturation_reasons", [])) or "no"
        rows.append(
            f"| {s['offered_tps']:.0f} | {s['achieved_offered_tps']:.0f} "
            f"| {s['committed_tps']:.0f} "
            f"| {_ms(s['latency_p50_s'])} | {_ms(s['latency_p99_s'])} | {_ms(s['latency_max_s'])} "
            f"| {'-' if cpu is None else f'{cpu * 1000:.2f}'} "
            f"| {'-' if bound is None else f'{bound:.0f}'} | {reasons} |"
        )
    return rows


def _cpu_table(profile: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The stored table, or one computed from the raw figures (a result from before it)."""
    if "cpu_table" in profile:
        table: dict[str, Any] = profile["cpu_table"]
        return table
    step = profile.get("step") or {}
    heights = step.get("window_heights") or step.get("heights")
    return cpu_table(
        profile["breakdown"],
        profile.get("cpu_per_transfer_s") or 0.0,
        result["ceiling"]["verify_rate"],
        validators=result["meta"]["validators"],
        heights=heights[1] - heights[0] if heights else None,
        committed=step.get("committed", 0),
    )


def cpu_rows(profile: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """The CPU breakdown section: a table and how it was made."""
    table = _cpu_table(profile, result)
    total = table["cpu_per_transfer_us"]
    lines = [
        f"## Where validator {profile['validator']}'s CPU goes "
        f"(py-spy --gil, {profile['samples']} samples at {profile['offered_tps']:.0f}/s offered)",
        "",
        "| category | share of CPU | CPU us per committed transfer | GIL-held samples |",
        "|---|---:|---:|---:|",
    ]
    for row in table["rows"]:
        lines.append(
            f"| {row['category']} | {row['cpu_share']:.1%} | {row['us']:.0f} "
            f"| {row['gil_share']:.1%} |"
        )
    lines.append(f"| **total** | 100% | **{total:.0f}** | 100% |")
    votes = table["vote_verifications_per_transfer"]
    validators = result["meta"]["validators"]
    if votes is None:
        verifications = "1 transfer signature (the proposal and vote signatures are left out)"
    else:
        verifications = (
            f"1 transfer signature + {vote_verifications_per_height(validators)} proposal and "
            f"vote signatures per height spread over the height's transfers ({votes:.3f}) = "
            f"{table['verifications_per_transfer']:.3f}"
        )
    verify_us = table["verify_us"]
    lines += [
        "",
        f"Method: the validator used **{total:.0f} us of CPU per committed transfer** (all "
        "threads, from /proc, over the profiled step). py-spy `--gil` samples only the thread "
        "holding the GIL, and pynacl's Ed25519 verify releases it, so the C part of each "
        "signature check is never sampled. Signature checks are therefore estimated from the "
        f"verify rate measured in this run ({table['verify_rate_per_cpu_s']:,.0f}/s per CPU "
        f"second, {'-' if verify_us is None else f'{verify_us:.0f}'} us each): "
        f"{verifications} verifications per transfer = "
        f"{table['signature_estimate_us']:.0f} us"
        + (
            " (more than the measured total: capped at it)"
            if table["signature_estimate_capped"]
            else ""
        )
        + f". The other {table['rest_us']:.0f} us are split by the shares of GIL-held samples "
        "(last column); the GIL-held signature-check samples (the Python around the C call) "
        "count as signature checks. Other C code that releases the GIL is spread over the "
        "categories the same way.",
        "",
    ]
    return lines


def markdown(result: dict[str, Any]) -> str:
    meta, ceiling = result["meta"], result["ceiling"]
    lines = [
        f"# depositnet bench: {meta['validators']} validators on {meta['cores']} cores",
        "",
        f"Run {meta['date']} at commit `{meta['git_commit']}`; load average "
        f"{meta['load_average_start']} at start, {meta['load_average_end']} at end "
        "(the machine is shared: read ratios, not absolutes).",
        "",
        f"Ceiling: single-core Ed25519 verify {ceiling['verify_rate']:,.0f}/s per CPU second "
        f"(best of 3 at start {ceiling['verify_rate_start']['per_cpu_s']:,.0f}/s and end "
        f"{ceiling['verify_rate_end']['per_cpu_s']:,.0f}/s) x {meta['cores']} cores / "
        f"{meta['validators']} validators = **{ceiling['ceiling_tps']:,.0f} transfers/s**. "
        f"Per wall second on the shared machine the same loop ran at "
        f"{ceiling['verify_rate_wall']:,.0f}/s (ceiling {ceiling['ceiling_wall_tps']:,.0f}/s).",
        f"Sustained: **{result['sustained_tps']:,.0f} committed transfers/s = "
        f"{result['fraction_of_ceiling']:.0%} of the ceiling**"
        + ("" if result["saturation_found"] else " (no step saturated: raise --steps)")
        + ".",
        "",
        "## Saturation search",
        "",
        "CPU-bound/s projects the step's validator CPU seconds per committed transfer onto "
        "the machine's cores with nothing else running: cores / (validators x CPU per "
        "transfer). It is a projection, not a measurement of throughput.",
        "",
        *step_rows(result["steps"], meta["cores"]),
        "",
    ]
    if result.get("half_load"):
        lines += [
            "## At half the saturation load",
            "",
            *step_rows([result["half_load"]], meta["cores"]),
            "",
        ]
    profile = result.get("profile")
    if profile:
        lines += cpu_rows(profile, result)
    lines += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {_met(t['met'])} |")
    lines += ["", "## Published figures we compare with", ""]
    lines += [f"- {name}: {figure}" for name, figure in PUBLISHED]
    return "\n".join(lines) + "\n"


def svg_plot(steps: Sequence[dict[str, Any]], ceiling_tps: float) -> str:
    """Two panels against offered load: throughput (with the ceiling, when it is within 3x of
    the data; otherwise the title names it) and latency p50/p99."""
    width, height, pad = 760, 320, 50
    xs = [float(s["offered_tps"]) for s in steps] or [1.0]
    x_max = max(xs) * 1.05
    panels = []
    data_max = max([*xs, *[s["committed_tps"] for s in steps]])
    ceiling_on_scale = ceiling_tps <= 3 * data_max
    y_tp = (max(data_max, ceiling_tps) if ceiling_on_scale else data_max) * 1.1 or 1.0
    lat = [s[k] or 0.0 for s in steps for k in ("latency_p50_s", "latency_p99_s")]
    y_lat = max([*lat, 0.001]) * 1000 * 1.1

    def panel(x0: int, title: str, y_max: float, series: list[tuple[str, str, list[float]]]) -> str:
        w = width / 2 - pad - 10
        h = height - 2 * pad

        def px(x: float) -> float:
            return x0 + pad + x / x_max * w

        def py(y: float) -> float:
            return pad + h - y / y_max * h

        parts = [
            f'<text x="{x0 + pad}" y="{pad - 15}" font-size="13">{title}</text>',
            f'<rect x="{x0 + pad}" y="{pad}" width="{w:.0f}" height="{h}" '
            'fill="none" stroke="#999"/>',
            f'<text x="{x0 + pad + w / 2:.0f}" y="{height - 12}" font-size="11" '
            'text-anchor="middle">offered transfers/s</text>',
        ]
        for i in range(5):
            yv, xv = y_max * i / 4, x_max * i / 4
            parts.append(
                f'<text x="{x0 + pad - 4}" y="{py(yv) + 4:.0f}" font-size="10" '
                f'text-anchor="end">{yv:.0f}</text>'
            )
            parts.append(
                f'<text x="{px(xv):.0f}" y="{pad + h + 14}" font-size="10" '
                f'text-anchor="middle">{xv:.0f}</text>'
            )
        for k, (name, colour, ys) in enumerate(series):
            points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=False))
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
            parts += [
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>'
                for x, y in zip(xs, ys, strict=False)
            ]
            parts.append(
                f'<text x="{x0 + pad + 8}" y="{pad + 14 + 14 * k}" font-size="11" '
                f'fill="{colour}">{name}</text>'
            )
        return "\n".join(parts)

    committed = [float(s["committed_tps"]) for s in steps]
    series = [("committed", "#1f77b4", committed), ("offered", "#aaaaaa", xs)]
    title = "committed transfers/s"
    if ceiling_on_scale:
        series.append(("ceiling", "#d62728", [ceiling_tps for _ in xs]))
    else:
        title += f" (ceiling {ceiling_tps:,.0f}/s is off the scale)"
    panels.append(panel(0, title, y_tp, series))
    p50 = [(s["latency_p50_s"] or 0.0) * 1000 for s in steps]
    p99 = [(s["latency_p99_s"] or 0.0) * 1000 for s in steps]
    panels.append(
        panel(
            width // 2,
            "submit-to-commit latency, ms",
            y_lat,
            [("p50", "#2ca02c", p50), ("p99", "#ff7f0e", p99)],
        )
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
        + "\n".join(panels)
        + "\n</svg>\n"
    )


def write(result: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """Write STEM.json, STEM.md and STEM.svg into `out_dir`; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.{ext}" for ext in ("json", "md", "svg")]
    paths[0].write_text(json.dumps(result, indent=2) + "\n")
    paths[1].write_text(markdown(result))
    plotted = [*result["steps"], *([result["half_load"]] if result.get("half_load") else [])]
    plotted.sort(key=lambda s: s["offered_tps"])
    paths[2].write_text(svg_plot(plotted, result["ceiling"]["ceiling_tps"]))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Re-render a result's Markdown and plot (and targets), e.g. with a catch-up result."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("result", type=Path, help="a network-*.json written by depositnet bench")
    parser.add_argument("--catchup", type=Path, help="a catchup-*.json to fold into the targets")
    args = parser.parse_args(argv)
    result = json.loads(args.result.read_text())
    if args.catchup:
        result["catchup"] = json.loads(args.catchup.read_text())
    result["targets"] = targets(result)
    for path in write(result, args.result.parent, args.result.name.removesuffix(".json")):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
