"""A self-contained HTML page of one run: a timeline per validator and the summary.

The timeline has one lane per instance. A line climbs with the committed height; red ticks
mark rounds above 0 (taller for higher rounds); grey blocks show when the instance was down;
coloured bands shade fault intervals (partitions, clogs, filters, pauses, crashes) over the
lanes they touch; a green rule marks the heal point and a red rule a violation. Inline SVG and
CSS only: the page opens anywhere, offline.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from sim.config import describe
from sim.result import RunResult

if TYPE_CHECKING:
    from sim.runner import Simulation

WIDTH = 1100
LANE = 46
LEFT = 60
COLOURS = {
    "partition": "#f4a261",
    "clog": "#e9c46a",
    "filter": "#8ecae6",
    "pause": "#b5a3e0",
    "crash": "#e76f51",
    "outage": "#e76f51",
}


def _svg(sim: Simulation, result: RunResult) -> str:
    tl = sim.timeline
    end = max(1, result.virtual_ms)
    lanes = len(sim.nodes)
    height = lanes * LANE + 30
    plot = WIDTH - LEFT - 10

    def x(t: int) -> float:
        return LEFT + plot * min(t, end) / end

    top_height = max((h for rows in tl.samples.values() for _, h, _ in rows), default=1) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}">']
    for fault in tl.faults:
        lanes_hit = fault.nodes or tuple(i for g in fault.groups[1:] for i in g)
        colour = COLOURS.get(fault.kind, "#ccc")
        for lane in lanes_hit or range(lanes):
            if lane < lanes:
                parts.append(
                    f'<rect x="{x(fault.start_ms):.1f}" y="{lane * LANE + 2}" '
                    f'width="{max(1.0, x(fault.end_ms) - x(fault.start_ms)):.1f}" '
                    f'height="{LANE - 4}" fill="{colour}" opacity="0.35">'
                    f"<title>{html.escape(fault.describe())}</title></rect>"
                )
    for node in sim.nodes:
        y0 = node.index * LANE
        parts.append(
            f'<text x="4" y="{y0 + LANE / 2 + 4}" font-size="12">{node.name}'
            f"{'' if node.correct else ' (f)'}</text>"
        )
        parts.append(
            f'<line x1="{LEFT}" y1="{y0 + LANE}" x2="{WIDTH - 10}" y2="{y0 + LANE}" stroke="#ddd"/>'
        )
        for start, stop in tl.outages.get(node.index, []):
            stop = end if stop < 0 else stop
            parts.append(
                f'<rect x="{x(start):.1f}" y="{y0 + 4}" '
                f'width="{max(1.0, x(stop) - x(start)):.1f}" height="{LANE - 8}" '
                f'fill="#888" opacity="0.5"><title>down</title></rect>'
            )
        points = []
        for t, h, r in tl.samples.get(node.index, []):
            y = y0 + LANE - 4 - (LANE - 10) * (h / top_height)
            points.append(f"{x(t):.1f},{y:.1f}")
            if r > 0:
                tick = min(LANE - 8, 4 + 2 * r)
                parts.append(
                    f'<line x1="{x(t):.1f}" y1="{y0 + LANE - 2}" x2="{x(t):.1f}" '
                    f'y2="{y0 + LANE - 2 - tick}" stroke="#d62828">'
                    f"<title>height {h} round {r} at {t} ms</title></line>"
                )
        if points:
            parts.append(
                f'<polyline fill="none" stroke="#1d3557" stroke-width="1.5" '
                f'points="{" ".join(points)}"/>'
            )
    marks = ((tl.heal_ms, "#2a9d8f", "heal"), (tl.violation_ms, "#d00", "violation"))
    for at, colour, label in marks:
        if at is not None:
            parts.append(
                f'<line x1="{x(at):.1f}" y1="0" x2="{x(at):.1f}" y2="{lanes * LANE}" '
                f'stroke="{colour}" stroke-width="2"><title>{label} at {at} ms</title></line>'
            )
    for k in range(6):
        t = end * k // 5
        parts.append(
            f'<text x="{x(t) - 10:.1f}" y="{lanes * LANE + 20}" font-size="11">'
            f"{t / 1000:.1f}s</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def render(sim: Simulation, result: RunResult) -> str:
    """The page as a string."""
    from sim.cli import summary_table

    legend = " ".join(
        f'<span style="background:{c};opacity:.6;padding:0 6px">{k}</span>'
        for k, c in COLOURS.items()
    )
    faults = "\n".join(html.escape(f.describe()) for f in sim.schedule) or "none"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>depositnet sim seed {result.spec.seed}</title>
<style>body{{font-family:sans-serif;margin:20px}} pre{{background:#f6f6f6;padding:8px}}</style>
</head><body>
<h1>Seed {result.spec.seed}: {html.escape(result.outcome.value)}</h1>
<pre>{html.escape(summary_table(result))}</pre>
<h2>Timeline</h2>
<p>Line: committed height. Red ticks: rounds above 0. Grey: down. Green rule: heal;
red rule: violation. Faults: {legend}. (f) marks a faulty validator.</p>
{_svg(sim, result)}
<h2>Fault schedule</h2><pre>{faults}</pre>
<h2>Configuration</h2><pre>{html.escape(describe(sim.config))}</pre>
</body></html>
"""


def write_report(path: str, sim: Simulation, result: RunResult) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(render(sim, result))
