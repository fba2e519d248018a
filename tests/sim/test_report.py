"""`depositnet sim run --report`: a page that reads without the trace, the same for a seed."""

from __future__ import annotations

import html
import re
from pathlib import Path

import attrs
import pytest

from consensus.messages import Vote, VoteType
from consensus.replica.wire import VoteMsg
from depositnet.cli import main
from sim.config import parse_overrides
from sim.messages import Copy, MessageLog, focus
from sim.recording import RecordingSimulation
from sim.report import render
from sim.report_messages import choose
from sim.result import Outcome, RunSpec
from sim.runner import Simulation
from sim.sweep import crashed

QUICK = ["--set", "validators=4", "--set", "safety_ms=800", "--set", "byzantine=none"]
KIND = {"propose": "proposal", "prevote": "prevote", "precommit": "precommit"}


def test_a_failing_runs_page_shows_reproduction_powers_heights_and_the_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page_path = tmp_path / "run.html"
    argv = ["sim", "run", "--seed", "13", *QUICK, "--bug", "send_before_persist"]
    assert main([*argv, "--report", str(page_path), "--quiet"]) == Outcome.SAFETY.exit_code
    capsys.readouterr()
    page = page_path.read_text()
    spec = RunSpec(13, parse_overrides([*QUICK[1::2], "bugs=send_before_persist"]))
    sim = Simulation(spec)
    timeline = page.index("<h2>Timeline</h2>")
    assert html.escape(spec.command()) in page[:timeline]  # the reproduce line is at the top
    for node in sim.nodes:  # every lane names its validator's power
        power = sim.config.powers[node.validator]
        assert re.search(rf">{re.escape(node.name)}</text><text [^>]*>[^<]*power {power} \(", page)
    assert page.count(">height</text>") == len(sim.nodes)  # a height axis per lane
    # The message view: the round the violation names, and the message it stopped.
    reason = re.search(r"sent its (\w+) for height (\d+) round (\d+)", page)
    assert reason is not None
    kind, height, round_ = KIND[reason.group(1)], reason.group(2), reason.group(3)
    assert f"Height {height}, round {round_}: the violation (safety violation)." in page
    assert re.search(
        rf"<td[^>]*>{kind} h{height} r{round_} [0-9a-f]{{8}}[^<]*</td><td>-</td>"
        r"<td>everyone: the violation was raised as it left</td>",
        page,
    )
    assert '<table class="msgs">' in page and "marker-end" in page  # arrows that arrived


def test_a_seeds_page_is_the_same_bytes_and_recording_leaves_the_run_unchanged() -> None:
    spec = RunSpec(1, {"validators": 4, "safety_ms": 800, "twins": (2,), "byzantine": ()})
    pages, digests = [], []
    for _ in range(2):
        sim = RecordingSimulation(spec)
        result = sim.run()
        pages.append(render(sim, result))
        digests.append(result.digest)
        assert len(sim.messages.copies) > 0
    assert pages[0] == pages[1]
    assert digests[0] == digests[1] == Simulation(spec).run().digest
    assert "arrived at" in pages[0] and "wall" not in pages[0]


def _vote(round_: int) -> tuple[bytes, VoteMsg]:
    vote = Vote(VoteType.PREVOTE, 3, round_, b"\x01" * 32, b"\x02" * 32, b"sig")
    return f"payload {round_}".encode(), VoteMsg(vote)


def test_arrivals_go_to_the_oldest_copy_owed_one_and_drops_are_told_apart() -> None:
    log = MessageLog()
    payload, msg = _vote(0)
    log.sent(10, 0, [1], payload, msg, expected=1)  # sent, then re-sent before arriving
    log.sent(20, 0, [1], payload, msg, expected=2)  # the re-send was duplicated
    log.sent(30, 0, [2], payload, msg, expected=0)  # dropped on another link
    for at in (25, 31, 40):
        log.arrived(at, 0, 1, payload, "")
    log.arrived(50, 0, 1, payload, "paused")  # a surplus arrival goes to the latest copy
    first, second, dropped = log.copies
    assert first.arrived_ms == [25]
    assert second.arrived_ms == [31, 40, 50] and second.held == "paused"
    assert dropped.arrived_ms == [] and dropped.expected == 0


def test_a_violation_names_its_height_and_round() -> None:
    assert focus("v3 sent its prevote for height 12 round 3 before persisting") == (12, 3)
    assert focus("agreement: height 7 committed as ab and as cd") == (7, None)
    assert focus("v9 raised on recv: AssertionError()") == (None, None)


def _copy(height: int, round_: int, signer: bytes, sent_ms: int) -> Copy:
    return Copy(sent_ms, 0, 1, "prevote", height, round_, None, signer)


def test_the_message_view_follows_correct_validators_not_a_flooder() -> None:
    honest, flooder = b"h" * 32, b"f" * 32
    copies = [_copy(3, 0, honest, 10), _copy(3, 1, honest, 20), _copy(9, 40, flooder, 30)]
    stuck = "after the heal at 9000 ms the core did not reach height 4 (v0 at 2, v1' at 2)"
    result = attrs.evolve(crashed(RunSpec(5), ""), outcome=Outcome.LIVENESS, reason=stuck)
    view = choose(copies, result, frozenset({honest}))
    assert view.why.startswith("Height 3, rounds 0..1: the violation (liveness failure)")
    assert [c.round for c in view.copies] == [0, 1]
    passed = attrs.evolve(result, outcome=Outcome.PASS, reason="")
    assert choose(copies, passed, frozenset({honest})).why.startswith("Height 3, rounds 0..1")
