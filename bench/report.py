"""Writing a `depositnet bench` result: JSON (everything), Markdown (the tables) and SVG plots.

The plots are plain SVG written here (two panels against offered load: committed transfers/s
with the ceiling and the offered = committed line, and latency p50/p99; and, after a soak, each
validator's RssAnon and RssFile over the soak), so the benchmark needs no plotting library.
`targets` judges the issue's targets from the figures, met or not.

Memory is judged on RssAnon, the validator's own memory, over the soak's second half: the first
minutes fill bounded caches (the tx-gossip dedupe cache, the verified-tx cache; before the
used-id index moved to the store, also a replay index over the validity window), and RssFile is
mapped files: the interpreter's libraries and LMDB's pages of a data file that grows with every
block (clean page cache the kernel may reclaim, bounded by the file's size), so neither the
start-to-end change of RssAnon nor VmRSS says whether memory leaks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.profile_validator import profile_cpu_table, vote_verifications_per_height
from bench.saturation import cpu_bound_tps, per_transfer_cpu

PUBLISHED = (
    ("Besu QBFT, 4 validators (token transfers)", "520-645 tx/s"),
    ("Tendermint 0.32, 2 validators", "about 400 tx/s"),
    ("CometBFT QA, 200 nodes, saturation", "about 400 tx/s"),
)
MEMORY_GROWTH_LIMIT = 0.10  # VmRSS start to end: results from before the samples
FLAT_FRACTION = 0.10  # RssAnon may grow this much over the soak's second half ...
FLAT_MIN_BYTES = 10 * 2**20  # ... or this many bytes, whichever is larger
MiB = 2**20


def is_flat(mid_bytes: int, end_bytes: int) -> bool:
    """RssAnon at the end at most max(FLAT_FRACTION, FLAT_MIN_BYTES) above the midpoint's."""
    return end_bytes - mid_bytes <= max(FLAT_FRACTION * mid_bytes, FLAT_MIN_BYTES)


def memory_summary(samples: Sequence[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """Per validator, from the soak's samples: RssAnon at the start, the midpoint (the sample
    nearest half the last sample's time) and the end, RssFile at start and end, the data file
    at the end, and whether RssAnon stayed flat from midpoint to end. None for a validator
    with fewer than two samples."""
    count = max((len(s["validators"]) for s in samples), default=0)
    out: list[dict[str, Any] | None] = []
    for index in range(count):
        series = [
            (float(s["t_s"]), s["validators"][index])
            for s in samples
            if index < len(s["validators"]) and s["validators"][index]
        ]
        if len(series) < 2:
            out.append(None)
            continue
        (t0, first), (t1, last) = series[0], series[-1]
        t_mid, mid = min(series, key=lambda point: abs(point[0] - (t0 + t1) / 2))
        out.append(
            {
                "anon_start": first["rss_anon_bytes"],
                "anon_mid": mid["rss_anon_bytes"],
                "anon_end": last["rss_anon_bytes"],
                "t_start": t0,
                "t_mid": t_mid,
                "t_end": t1,
                "file_start": first["rss_file_bytes"],
                "file_end": last["rss_file_bytes"],
                "vm_end": last["vm_rss_bytes"],
                "data_file_start": first["data_file_bytes"],
                "data_file_end": last["data_file_bytes"],
                "data_file_allocated_end": last.get("data_file_allocated_bytes", 0),
                "cpu_s": last["cpu_s"] - first["cpu_s"],
                "flat": is_flat(mid["rss_anon_bytes"], last["rss_anon_bytes"]),
            }
        )
    return out


def _mib(n: float) -> str:
    return f"{n / MiB:.0f}"


def _signed_mib(n: float) -> str:
    return f"{n / MiB:+.0f}"


def memory_target(soak: dict[str, Any]) -> dict[str, Any]:
    """The memory target from a soak's samples (see `memory_summary`)."""
    target = (
        "RssAnon per validator flat over the soak's second half "
        f"(end <= midpoint + max({FLAT_FRACTION:.0%}, {FLAT_MIN_BYTES // MiB} MiB))"
    )
    if "samples" not in soak:
        return _vmrss_target(soak)
    summary = memory_summary(soak["samples"])
    parts = []
    for index, v in enumerate(summary):
        if v is None:
            parts.append(f"v{index}: not sampled")
            continue
        parts.append(
            f"v{index} RssAnon {_mib(v['anon_start'])}->{_mib(v['anon_end'])} MiB "
            f"({_signed_mib(v['anon_end'] - v['anon_start'])}), second half "
            f"{_mib(v['anon_mid'])}->{_mib(v['anon_end'])} MiB "
            f"({_signed_mib(v['anon_end'] - v['anon_mid'])}: "
            f"{'flat' if v['flat'] else 'GROWING'}); RssFile {_mib(v['file_start'])}->"
            f"{_mib(v['file_end'])} MiB beside data.mdb {_mib(v['data_file_start'])}->"
            f"{_mib(v['data_file_end'])} MiB"
        )
    judged = [v for v in summary if v is not None]
    t_mid = judged[0]["t_mid"] if judged else 0.0
    t_end = judged[0]["t_end"] if judged else 0.0
    problems = soak.get("problems") or []
    measured = (
        f"one run of {soak['seconds']:.0f} s at {soak['offered_tps']:.0f}/s offered, "
        f"{soak['committed_tps']:.0f}/s committed: "
        + "; ".join(parts)
        + f". Judged: RssAnon of the last sample (t={t_end:.0f} s) against the sample nearest "
        f"the midpoint (t={t_mid:.0f} s), per validator; RssFile (mapped files: the interpreter's "
        "libraries and LMDB's data file, reclaimable page cache) is not judged"
        + ("" if not problems else ". INVALID LOAD: " + "; ".join(problems))
    )
    met = bool(judged) and len(judged) == len(summary) and all(v["flat"] for v in judged)
    return {"target": target, "measured": measured, "met": met and not problems}


def _vmrss_target(soak: dict[str, Any]) -> dict[str, Any]:
    """A result from before the soak was sampled: VmRSS at its start and end only."""
    growth = [v["rss_end_bytes"] / v["rss_start_bytes"] - 1 for v in soak["validators"]]
    return {
        "target": f"RSS per validator flat over the soak (growth <= {MEMORY_GROWTH_LIMIT:.0%})",
        "measured": f"{soak['seconds']:.0f} s at {soak['offered_tps']:.0f}/s offered: "
        + ", ".join(
            f"{v['rss_start_bytes'] / MiB:.0f}->{v['rss_end_bytes'] / MiB:.0f} MiB"
            for v in soak["validators"]
        )
        + (
            f"; committed {soak['committed_tps']:.0f}/s over the soak's wall time"
            if "committed_tps" in soak
            else ""
        ),
        "met": max(growth) <= MEMORY_GROWTH_LIMIT,
    }


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
        out.append(memory_target(soak))
    else:
        out.append(
            {"target": "RssAnon per validator flat over a soak", "measured": "not run", "met": None}
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
    return profile_cpu_table(
        profile, result["ceiling"]["verify_rate"], result["meta"]["validators"]
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


def soak_rows(soak: dict[str, Any]) -> list[str]:
    """The soak section: the run, and each validator's memory at start, midpoint and end."""
    rate = soak.get("heights_per_s")
    gap = soak.get("max_send_gap_s")
    lines = [
        "## Soak",
        "",
        f"One load generator run of {soak['seconds']:.0f} s at {soak['offered_tps']:.0f}/s "
        f"offered (sent {soak['achieved_offered_tps']:.0f}/s), "
        f"{soak['committed_tps']:.0f}/s committed, p99 {_ms(soak['latency_p99_s'])}; "
        f"{soak['uncommitted']} never seen committed, "
        f"{sum(soak['rejected'].values())} refused"
        + "".join(f", {code} {n}" for code, n in soak["rejected"].items())
        + ". The chain made "
        f"{'-' if rate is None else f'{rate:.1f}'} heights/s"
        + ("" if gap is None else f"; the longest pause between two sends was {_ms(gap)}")
        + f". Sampled every {soak['sample_interval_s']:.0f} s "
        f"({len(soak['samples'])} samples; plot: the `-soak.svg` beside this file). RssAnon is "
        "the validator's own memory (Python's heap); RssFile is mapped files: the "
        "interpreter's libraries and LMDB's data file, clean page cache of a file that grows "
        "with every block.",
        "",
        "| validator | RssAnon start | midpoint | end | second half | RssFile start | end "
        "| data.mdb start | end (allocated) | VmRSS end | CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for index, v in enumerate(memory_summary(soak["samples"])):
        if v is None:
            lines.append(f"| {index} | not sampled ||||||||||")
            continue
        lines.append(
            f"| {index} | {_mib(v['anon_start'])} MiB | {_mib(v['anon_mid'])} MiB "
            f"({v['t_mid']:.0f} s) | {_mib(v['anon_end'])} MiB ({v['t_end']:.0f} s) "
            f"| {_signed_mib(v['anon_end'] - v['anon_mid'])} MiB "
            f"{'flat' if v['flat'] else 'GROWING'} | {_mib(v['file_start'])} MiB "
            f"| {_mib(v['file_end'])} MiB | {_mib(v['data_file_start'])} MiB "
            f"| {_mib(v['data_file_end'])} MiB "
            f"({_mib(v['data_file_allocated_end'])} MiB) | {_mib(v['vm_end'])} MiB "
            f"| {v['cpu_s']:.0f} |"
        )
    lines.append("")
    for problem in soak.get("problems") or []:
        lines.append(f"**The soak's load is not valid:** {problem}.")
    if soak.get("problems"):
        lines.append("")
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
    soak = result.get("soak")
    if soak and "samples" in soak:
        lines += soak_rows(soak)
    lines += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {_met(t['met'])} |")
    lines += ["", "## Published figures we compare with", ""]
    lines += [f"- {name}: {figure}" for name, figure in PUBLISHED]
    return "\n".join(lines) + "\n"


def _ticks(
    left: float,
    bottom: float,
    x_max: float,
    y_max: float,
    px: Callable[[float], float],
    py: Callable[[float], float],
) -> list[str]:
    """Five labelled ticks on each axis of a plot area whose left edge is `left` and bottom
    edge `bottom`; `px` and `py` map data to SVG coordinates."""
    parts = []
    for i in range(5):
        yv, xv = y_max * i / 4, x_max * i / 4
        parts.append(
            f'<text x="{left - 4}" y="{py(yv) + 4:.0f}" font-size="10" '
            f'text-anchor="end">{yv:.0f}</text>'
        )
        parts.append(
            f'<text x="{px(xv):.0f}" y="{bottom + 14}" font-size="10" '
            f'text-anchor="middle">{xv:.0f}</text>'
        )
    return parts


def _svg(width: int, height: int, parts: Sequence[str]) -> str:
    """A white SVG document of `parts`."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n'
        + "\n".join(parts)
        + "\n</svg>\n"
    )


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
        parts += _ticks(x0 + pad, pad + h, x_max, y_max, px, py)
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
    return _svg(width, height, panels)


COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def svg_memory(samples: Sequence[dict[str, Any]]) -> str:
    """Each validator's RssAnon (solid) and RssFile (dashed) in MiB against the soak's seconds,
    with the midpoint from which RssAnon is judged marked."""
    width, height, pad, legend = 660, 300, 50, 100
    count = max((len(s["validators"]) for s in samples), default=0)
    series: list[tuple[int, str, list[tuple[float, float]]]] = []
    for index in range(count):
        for key, dash in (("rss_anon_bytes", ""), ("rss_file_bytes", "5,4")):
            points = [
                (float(s["t_s"]), s["validators"][index][key] / MiB)
                for s in samples
                if index < len(s["validators"]) and s["validators"][index]
            ]
            series.append((index, dash, points))
    t_max = max((t for _, _, pts in series for t, _ in pts), default=0.0) or 1.0
    y_max = max((y for _, _, pts in series for _, y in pts), default=0.0) * 1.1 or 1.0
    w, h = width - 2 * pad - legend, height - 2 * pad

    def px(t: float) -> float:
        return pad + t / t_max * w

    def py(y: float) -> float:
        return pad + h - y / y_max * h

    parts = [
        f'<text x="{pad}" y="{pad - 20}" font-size="13">validators\' memory over the soak, MiB:'
        " RssAnon solid, RssFile dashed</text>",
        f'<rect x="{pad}" y="{pad}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
        f'<line x1="{px(t_max / 2):.1f}" y1="{pad}" x2="{px(t_max / 2):.1f}" y2="{pad + h}" '
        'stroke="#bbb" stroke-dasharray="2,3"/>',
        f'<text x="{pad + w / 2:.0f}" y="{height - 12}" font-size="11" '
        'text-anchor="middle">seconds into the soak (judged from the dotted midpoint)</text>',
    ]
    parts += _ticks(pad, pad + h, t_max, y_max, px, py)
    for index, dash, points in series:
        colour = COLOURS[index % len(COLOURS)]
        line = " ".join(f"{px(t):.1f},{py(y):.1f}" for t, y in points)
        style = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{style}/>'
        )
        if not dash:
            parts.append(
                f'<text x="{pad + w + 10}" y="{pad + 10 + 14 * index}" font-size="11" '
                f'fill="{colour}">validator {index}</text>'
            )
    return _svg(width, height, parts)


def write(result: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """Write STEM.json, STEM.md and STEM.svg into `out_dir`, and STEM-soak.svg after a sampled
    soak; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.{ext}" for ext in ("json", "md", "svg")]
    paths[0].write_text(json.dumps(result, indent=2) + "\n")
    paths[1].write_text(markdown(result))
    plotted = [*result["steps"], *([result["half_load"]] if result.get("half_load") else [])]
    plotted.sort(key=lambda s: s["offered_tps"])
    paths[2].write_text(svg_plot(plotted, result["ceiling"]["ceiling_tps"]))
    soak = result.get("soak")
    if soak and soak.get("samples"):
        paths.append(out_dir / f"{stem}-soak.svg")
        paths[3].write_text(svg_memory(soak["samples"]))
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
