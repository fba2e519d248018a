"""A self-contained HTML page of one run, readable without the trace.

At the top, the line that reproduces the run and its summary. The timeline has one lane per
instance, labelled with its role and voting power; a line climbs with the height it is
deciding, against a height axis; red ticks mark rounds above 0 (taller for higher rounds);
grey blocks show when the instance was down; coloured bands shade fault intervals
(partitions, clogs, filters, pauses, crashes) over the lanes they touch; a green rule marks
the heal point and a red rule a violation. Below it, the message view
(`sim.report_messages`): who sent which proposal and vote to whom around the violation.
Inline SVG and CSS only, so the page opens anywhere, offline. Nothing on it depends on the
wall clock, so a seed's page is the same bytes on every run.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from sim import report_messages
from sim.config import describe
from sim.result import RunResult

if TYPE_CHECKING:
    from sim.runner import Simulation

WIDTH = 1100
LANE = 56
LEFT = 190
COLOURS = {
    "partition": "#f4a261",
    "clog": "#e9c46a",
    "filter": "#8ecae6",
    "pause": "#b5a3e0",
    "crash": "#e76f51",
    "outage": "#e76f51",
}


def lane_label(sim: Simulation, index: int) -> tuple[str, str]:
    """(name, role and voting power) of an instance, as its lane shows them."""
    cfg = sim.config
    node = sim.nodes[index]
    power = cfg.powers[node.validator]
    share = 100 * power / cfg.total_power
    if node.index >= cfg.validators:
        role = "twin, second instance"
    elif node.validator in cfg.twins:
        role = "twin, first instance"
    elif node.correct:
        role = "correct"
    else:
        role = cfg.strategy_of(node.validator) or "faulty"
    return node.name, f"{role}, power {power} ({share:.0f}%)"


def _ticks(top: int) -> list[int]:
    """Height ticks for a lane's y-axis: 0, the top, and a round middle when there is room."""
    if top <= 1:
        return [0, 1]
    return sorted({0, top // 2, top})


def _svg(sim: Simulation, result: RunResult) -> str:
    tl = sim.timeline
    end = max(1, result.virtual_ms)
    lanes = len(sim.nodes)
    height = lanes * LANE + 34
    plot = WIDTH - LEFT - 10

    def x(t: int) -> float:
        return LEFT + plot * min(t, end) / end

    top_height = max((h for rows in tl.samples.values() for _, h, _ in rows), default=1) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        'font-family="sans-serif">'
    ]
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
        name, role = lane_label(sim, node.index)

        def y(h: int, y0: int = y0) -> float:
            return y0 + LANE - 4 - (LANE - 10) * (h / top_height)

        parts.append(
            f'<text x="4" y="{y0 + LANE / 2 - 2}" font-size="12" font-weight="bold">{name}</text>'
            f'<text x="4" y="{y0 + LANE / 2 + 12}" font-size="10">{html.escape(role)}</text>'
        )
        parts.append(
            f'<line x1="{LEFT}" y1="{y0 + LANE}" x2="{WIDTH - 10}" y2="{y0 + LANE}" stroke="#bbb"/>'
            f'<line x1="{LEFT}" y1="{y(0):.1f}" x2="{LEFT}" y2="{y(top_height):.1f}" '
            'stroke="#444"/>'
        )
        middle = y0 + LANE / 2
        parts.append(
            f'<text x="{LEFT - 32}" y="{middle:.1f}" font-size="8" fill="#777" '
            f'text-anchor="middle" transform="rotate(-90 {LEFT - 32} {middle:.1f})">height</text>'
        )
        for tick in _ticks(top_height):
            parts.append(
                f'<line x1="{LEFT - 3}" y1="{y(tick):.1f}" x2="{WIDTH - 10}" y2="{y(tick):.1f}" '
                f'stroke="#eee"/><text x="{LEFT - 5}" y="{y(tick) + 3:.1f}" font-size="9" '
                f'text-anchor="end">{tick}</text>'
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
            points.append(f"{x(t):.1f},{y(h):.1f}")
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
        anchor = "start" if k == 0 else "end" if k == 5 else "middle"
        label = f"{t} ms" if end < 10_000 else f"{t / 1000:.1f} s"
        parts.append(
            f'<text x="{x(t):.1f}" y="{lanes * LANE + 20}" font-size="11" '
            f'text-anchor="{anchor}">{label}</text>'
        )
    parts.append(
        f'<text x="{WIDTH - 10}" y="{lanes * LANE + 32}" font-size="10" text-anchor="end">'
        "virtual time</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def summary_rows(result: RunResult) -> list[tuple[str, str]]:
    """The run's summary without wall-clock figures, so a seed's page never changes."""
    rows = [
        ("outcome", result.outcome.value + (f": {result.reason}" if result.reason else "")),
        ("heights", " ".join(str(h) for h in result.heights)),
        ("liveness", result.liveness or "-"),
        ("events", str(result.events)),
        ("virtual time", f"{result.virtual_ms} ms"),
        ("faults", ", ".join(f"{k} {v}" for k, v in result.faults.items()) or "none"),
        ("trace digest", result.digest),
    ]
    return rows + [("note", note) for note in result.notes]


def _messages(sim: Simulation, result: RunResult) -> str:
    from sim.recording import RecordingSimulation

    if not isinstance(sim, RecordingSimulation):
        return "<p>Not recorded (build the run as a <code>RecordingSimulation</code>).</p>"
    lanes = [node.name for node in sim.nodes]
    names = {node.key: f"v{node.validator}" for node in sim.nodes}
    return report_messages.section(
        list(sim.messages.copies),
        result,
        lanes,
        names,
        sim.correct_keys,
        sim.timeline.samples,
        sim.timeline.violation_ms,
    )


def render(sim: Simulation, result: RunResult) -> str:
    """The page as a string: the same bytes for the same seed and code."""
    legend = " ".join(
        f'<span style="background:{c};opacity:.6;padding:0 6px">{k}</span>'
        for k, c in COLOURS.items()
    )
    faults = "\n".join(html.escape(f.describe()) for f in sim.schedule) or "none"
    width = max(len(k) for k, _ in summary_rows(result))
    summary = "\n".join(f"{k:<{width}}  {v}" for k, v in summary_rows(result))
    powers = ", ".join(
        f"{name}: {role}" for name, role in (lane_label(sim, n.index) for n in sim.nodes)
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>depositnet sim seed {result.spec.seed}</title>
<style>body{{font-family:sans-serif;margin:20px}}
pre,code.repro{{background:#f6f6f6;padding:8px;white-space:pre-wrap}}
table.msgs{{border-collapse:collapse;font-size:12px}}
table.msgs td,table.msgs th{{border:1px solid #ddd;padding:2px 6px;text-align:left}}
div.msgs{{max-height:480px;overflow:auto}} table.msgs td:nth-child(3){{white-space:nowrap}}</style>
</head><body>
<h1>Seed {result.spec.seed}: {html.escape(result.outcome.value)}</h1>
<p>Reproduce: <code class="repro">{html.escape(result.spec.command())}</code></p>
<pre>{html.escape(summary)}</pre>
<h2>Timeline</h2>
<p>Per instance: its role and voting power; the line is the height it is deciding (one
more than it has committed; axis at the left of each lane). Red ticks: rounds above 0.
Grey: down. Green rule: heal; red rule: violation. Faults: {legend}.</p>
{_svg(sim, result)}
<p>Voting power: {html.escape(powers)}; total {sim.config.total_power}, faulty
{sim.config.faulty_power}.</p>
<h2>Messages</h2>
{_messages(sim, result)}
<h2>Fault schedule</h2><pre>{faults}</pre>
<h2>Configuration</h2><pre>{html.escape(describe(sim.config))}</pre>
</body></html>
"""


def write_report(path: str, sim: Simulation, result: RunResult) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(render(sim, result))
