"""The report's message view: who sent which proposal, prevote and precommit to whom, and when
it arrived, over the rounds around a violation (or, in a run that passed, around the height
that needed the most rounds).

Two forms of the same copies: a sequence diagram (one lane per instance, an arrow per copy from
its sending time to its arrival, a cross for a copy that never arrived, the (height, round)
each instance entered) and a table with one row per message sent, listing where and when it
arrived. Everything is ordered by (time, instance, kind), so a seed's page is byte for byte the
same on every run.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

import attrs

from sim.messages import KINDS, Copy, focus
from sim.result import Outcome, RunResult

MAX_SHOWN = 600
ROUNDS_SHOWN = 3
LANE = 34
LEFT = 90
WIDTH = 1100
COLOURS = {"proposal": "#1d3557", "prevote": "#2a9d8f", "precommit": "#d1495b"}


@attrs.frozen
class View:
    why: str  # a sentence: which height and rounds, and why these
    copies: tuple[Copy, ...]


def short(value: bytes | None) -> str:
    """A block id as violations print it (first 4 bytes), or nil."""
    return "nil" if value is None else value[:4].hex()


def choose(copies: Sequence[Copy], result: RunResult, correct: frozenset[bytes]) -> View:
    """The copies worth reading: the violation's height and the rounds around its round; in
    a run that passed, the height where correct validators (`correct`: their keys) needed the
    most rounds (a Byzantine flood of far rounds says nothing)."""
    if not copies:
        return View("No proposal or vote was recorded.", ())
    height, round_ = focus(result.reason) if result.outcome.failed else (None, None)
    if result.outcome is Outcome.LIVENESS:
        # "did not reach height 4 (v0 at 2, v1 at 2)": the core is stuck deciding height 3.
        stuck = [int(h) for h in re.findall(r"\bv\d+'? at (\d+)", result.reason)]
        height, round_ = (min(stuck) + 1 if stuck else None), None
    if result.outcome.failed:
        honest = [c for c in copies if c.signer in correct] or list(copies)
        if height is None or not any(c.height == height for c in honest):
            height = honest[-1].height  # the run stopped at the violation: its last messages
        why = f"the violation ({result.outcome.value})"
    else:
        rounds: dict[int, int] = {}
        for c in copies:
            if c.signer in correct or not correct:
                rounds[c.height] = max(rounds.get(c.height, 0), c.round)
        if not rounds:
            return View("No correct validator's proposal or vote was recorded.", ())
        height = max(rounds, key=lambda h: (rounds[h], h))
        why = f"no violation; the height that needed the most rounds ({rounds[height] + 1})"
    at_height = [c for c in copies if c.height == height]
    # Rounds correct validators took part in (a flooder's far rounds would hide them).
    present = sorted({c.round for c in at_height if c.signer in correct})
    present = present or sorted({c.round for c in at_height})
    if round_ is not None and round_ in present:
        wanted = [r for r in present if round_ - ROUNDS_SHOWN + 2 <= r <= round_ + 1]
    else:
        wanted = present[-ROUNDS_SHOWN:]
    chosen = sorted((c for c in at_height if c.round in wanted), key=lambda c: c.order)
    cut = len(chosen) > MAX_SHOWN
    chosen = chosen[-MAX_SHOWN:]
    span = f"round {wanted[0]}" if len(wanted) == 1 else f"rounds {wanted[0]}..{wanted[-1]}"
    text = f"Height {height}, {span}: {why}."
    if cut:
        text += f" Only the last {MAX_SHOWN} copies are shown."
    return View(text, tuple(chosen))


def _fate(c: Copy) -> str:
    """Why a copy never arrived, as far as the run can tell."""
    if c.expected == 0:
        return "dropped by the network"
    if c.expected is not None:
        return "in flight when the run ended"
    return "dropped, or in flight when the run ended"


def _label(c: Copy, names: Mapping[bytes, str]) -> str:
    text = f"{c.kind} h{c.height} r{c.round} {short(c.value)}"
    if c.kind == "proposal":
        text += f" vr {c.valid_round}"
    return text + f" signed by {names.get(c.signer, c.signer[:4].hex())}"


def svg(
    view: View,
    lanes: Sequence[str],
    names: Mapping[bytes, str],
    samples: Mapping[int, Sequence[tuple[int, int, int]]],
    violation_ms: int | None,
) -> str:
    """The sequence diagram: time runs right, one lane per instance."""
    copies = view.copies
    start = min(c.sent_ms for c in copies)
    end = max([c.sent_ms for c in copies] + [a for c in copies for a in c.arrived_ms])
    end = max(end, start + 1)
    plot = WIDTH - LEFT - 20
    height = len(lanes) * LANE + 40

    def x(t: int) -> float:
        return LEFT + plot * (min(max(t, start), end) - start) / (end - start)

    def y(lane: int) -> float:
        return lane * LANE + LANE / 2 + 10

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        'font-family="sans-serif">',
        '<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#555"/></marker></defs>',
    ]
    for lane, name in enumerate(lanes):
        parts.append(f'<text x="4" y="{y(lane) + 4:.1f}" font-size="12">{html.escape(name)}</text>')
        parts.append(
            f'<line x1="{LEFT}" y1="{y(lane):.1f}" x2="{WIDTH - 20}" y2="{y(lane):.1f}" '
            'stroke="#ccc"/>'
        )
        rows = samples.get(lane, ())
        # Where the instance stood as the window opens, then each (height, round) it entered.
        shown = [row for row in rows if row[0] < start][-1:]
        shown += [row for row in rows if start <= row[0] <= end]
        for t, h, r in shown:
            parts.append(
                f'<text x="{x(t) + 1:.1f}" y="{y(lane) - 5:.1f}" font-size="8" fill="#777">'
                f"h{h} r{r}</text>"
            )
    for c in copies:
        colour = COLOURS[c.kind]
        dash = ' stroke-dasharray="4 3"' if c.value is None and c.kind != "proposal" else ""
        title = html.escape(
            f"{lanes[c.src]} -> {lanes[c.dst]}: {_label(c, names)}, sent at {c.sent_ms} ms, "
            + (
                "arrived at " + ", ".join(f"{a} ms" for a in c.arrived_ms)
                if c.arrived_ms
                else _fate(c)
            )
            + (f" (receiver {c.held})" if c.held else "")
        )
        x0, y0, y1 = x(c.sent_ms), y(c.src), y(c.dst)
        if c.stopped:
            parts.append(
                f'<circle cx="{x0:.1f}" cy="{y0:.1f}" r="6" fill="none" stroke="{colour}" '
                f'stroke-width="2"><title>{lanes[c.src]}: {html.escape(_label(c, names))}, '
                f"stopped by the violation as it left at {c.sent_ms} ms</title></circle>"
            )
            continue
        for arrived in c.arrived_ms:
            parts.append(
                f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x(arrived):.1f}" y2="{y1:.1f}" '
                f'stroke="{colour}" stroke-width="1"{dash} marker-end="url(#arrow)">'
                f"<title>{title}</title></line>"
            )
        if not c.arrived_ms:
            xm, ym = x0 + 14, y0 + (y1 - y0) * 0.3
            end_mark = (
                f"M{xm - 3:.1f},{ym - 3:.1f} l6,6 m0,-6 l-6,6"  # a cross: dropped
                if not c.expected
                else f"M{xm:.1f},{ym:.1f} m-2,0 a2,2 0 1,0 4,0 a2,2 0 1,0 -4,0"  # in flight
            )
            parts.append(
                f'<path d="M{x0:.1f},{y0:.1f} L{xm:.1f},{ym:.1f} {end_mark}" '
                f'stroke="{colour}" fill="none"{dash}><title>{title}</title></path>'
            )
    if violation_ms is not None and start <= violation_ms <= end:
        parts.append(
            f'<line x1="{x(violation_ms):.1f}" y1="0" x2="{x(violation_ms):.1f}" '
            f'y2="{len(lanes) * LANE + 10}" stroke="#d00" stroke-width="2">'
            f"<title>violation at {violation_ms} ms</title></line>"
        )
    for k in range(6):
        t = start + (end - start) * k // 5
        anchor = "start" if k == 0 else "end" if k == 5 else "middle"
        parts.append(
            f'<text x="{x(t):.1f}" y="{len(lanes) * LANE + 30}" font-size="11" '
            f'text-anchor="{anchor}">{t} ms</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def table(view: View, lanes: Sequence[str], names: Mapping[bytes, str]) -> str:
    """One row per message sent: when, by whom, what, and where and when it arrived."""
    rows: dict[tuple[object, ...], list[Copy]] = {}
    for c in view.copies:
        key = (c.sent_ms, c.src, KINDS.index(c.kind), c.height, c.round, c.value, c.signer)
        rows.setdefault(key, []).append(c)
    out = [
        '<div class="msgs"><table class="msgs"><tr><th>sent ms</th><th>from</th><th>message</th>'
        "<th>arrived (instance @ ms)</th><th>not arrived (why)</th></tr>"
    ]
    for group in rows.values():
        first = group[0]
        arrived = ", ".join(
            f"{lanes[c.dst]} @ {'/'.join(map(str, c.arrived_ms))}"
            + (f" ({c.held})" if c.held else "")
            for c in group
            if c.arrived_ms
        )
        lost = ", ".join(
            f"{lanes[c.dst]} ({_fate(c)})" for c in group if not c.arrived_ms and not c.stopped
        )
        if first.stopped:
            lost = "everyone: the violation was raised as it left"
        out.append(
            f"<tr><td>{first.sent_ms}</td><td>{html.escape(lanes[first.src])}</td>"
            f'<td style="color:{COLOURS[first.kind]}">{html.escape(_label(first, names))}</td>'
            f"<td>{html.escape(arrived) or '-'}</td><td>{html.escape(lost) or '-'}</td></tr>"
        )
    out.append("</table></div>")
    return "\n".join(out)


def section(
    copies: Sequence[Copy],
    result: RunResult,
    lanes: Sequence[str],
    names: Mapping[bytes, str],
    correct: frozenset[bytes],
    samples: Mapping[int, Sequence[tuple[int, int, int]]],
    violation_ms: int | None,
) -> str:
    """The whole message view as HTML."""
    view = choose(copies, result, correct)
    if not view.copies:
        return f"<p>{html.escape(view.why)}</p>"
    legend = " ".join(
        f'<span style="color:{colour}">&#9644; {kind}</span>' for kind, colour in COLOURS.items()
    )
    return (
        f"<p>{html.escape(view.why)} Arrows run from sending to arrival; dashed: a vote for "
        "nil; a cross: dropped; a small circle: still in flight when the run ended; a large "
        "circle: a message stopped by the violation as it left. Grey labels: the (height, "
        f"round) each instance was in and entered. {legend}</p>\n"
        f"{svg(view, lanes, names, samples, violation_ms)}\n{table(view, lanes, names)}"
    )
