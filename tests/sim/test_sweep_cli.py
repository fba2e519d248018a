"""`depositnet sim sweep` without a cluster: operator errors, progress, and the result tables."""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
from collections.abc import Iterator

import pytest

from depositnet.cli import main
from sim.result import Outcome, RunResult, RunSpec
from sim.sweep import crashed, exit_code, summarize, to_text
from sim.sweep_progress import Progress, duration
from sim.sweep_tables import SweepInfo, to_json, to_markdown


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("depositnet: error: "), captured.err
    for word in words:
        assert word in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("seeds", "word"),
    [
        ("0..x", "A..B"),
        ("5..2", "0 <= A <= B"),
        ("-3..2", "0 <= A <= B"),
        ("0..99999999999", "at most"),
    ],
)
def test_a_bad_seed_range_is_one_line(
    capsys: pytest.CaptureFixture[str], seeds: str, word: str
) -> None:
    assert main(["sim", "sweep", f"--seeds={seeds}"]) == 2
    _one_line_error(capsys, "seeds", word)


@pytest.mark.parametrize("address", ["localhost:8786", "tcp://host", "http://h:1", "tcp://h:99999"])
def test_a_malformed_scheduler_address_is_one_line(
    capsys: pytest.CaptureFixture[str], address: str
) -> None:
    assert main(["sim", "sweep", "--seeds", "0..1", "--scheduler", address]) == 2
    _one_line_error(capsys, "--scheduler", "tcp://HOST:PORT")


def test_other_option_mistakes_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["sim", "sweep", "--seeds", "0..1"]
    assert main([*base, "--workers", "0"]) == 2
    _one_line_error(capsys, "--workers")
    assert main([*base, "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    _one_line_error(capsys, "--workers", "--scheduler")
    assert main([*base, "--memory-limit", "lots"]) == 2
    _one_line_error(capsys, "--memory-limit")
    assert main([*base, "--set", "byzantine=9:silent", "--set", "validators=4"]) == 2
    _one_line_error(capsys, "byzantine")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_scheduler_that_does_not_answer_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    argv = ["sim", "sweep", "--seeds", "0..1", "--scheduler", address, "--connect-timeout", "1"]
    assert main(argv) == 2
    _one_line_error(capsys, address, "cannot connect")


@pytest.fixture
def not_a_scheduler() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that answers every connection with bytes Dask cannot parse."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


def test_something_that_is_not_a_scheduler_is_one_line(
    capsys: pytest.CaptureFixture[str], not_a_scheduler: str
) -> None:
    argv = ["sim", "sweep", "--seeds", "0..1", "--scheduler", not_a_scheduler]
    assert main([*argv, "--connect-timeout", "2"]) == 2
    _one_line_error(capsys, not_a_scheduler)


def test_no_dask_installed_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    assert main(["sim", "sweep", "--seeds", "0..1"]) == 2
    _one_line_error(capsys, "Dask distributed", "pip install")


def _result(seed: int, outcome: Outcome = Outcome.PASS, wall_s: float = 2.0) -> RunResult:
    return RunResult(
        spec=RunSpec(seed, {"validators": 4}),
        outcome=outcome,
        reason="" if outcome is Outcome.PASS else "agreement: height 3 | twice",
        heights=(5, 7),
        events=1000,
        virtual_ms=8000,
        wall_s=wall_s,
        faults={"crash": 1},
        digest=f"d{seed}",
    )


def test_progress_shows_rate_eta_and_each_failure_with_its_reproduction() -> None:
    now = [100.0]
    out = io.StringIO()
    progress = Progress(10, out, tty=False, every_s=30, clock=lambda: now[0])
    progress.start()
    now[0] += 10
    progress.on_result(_result(0))  # not a terminal: nothing until 30 s have passed
    assert out.getvalue() == ""
    now[0] += 20
    progress.on_result(_result(1, Outcome.LIVENESS))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("seed 1: liveness failure")
    assert lines[1] == "  reproduce: depositnet sim run --seed 1 --set validators=4"
    # 2 seeds in 30 s: 240 seeds/h, 8 left: 2 minutes.
    assert lines[2] == "2/10 seeds, 1 failing, 240 seeds/h, 30s elapsed, ETA 2m 00s"
    assert duration(3 * 3600 + 65) == "3h 01m"


def test_summary_and_tables_keep_the_figures_and_list_every_failure() -> None:
    results = [_result(2), _result(0, Outcome.SAFETY), crashed(RunSpec(1), "worker died")]
    summary = summarize(results, wall_s=3.0, workers=2, engine="dask distributed, local")
    assert summary.outcomes["pass"] == 1 and summary.outcomes["crash"] == 1
    assert summary.events_per_s == pytest.approx(2000 / 4.0)  # events over CPU seconds
    assert summary.virtual_to_wall == pytest.approx(16 / 4.0)
    assert summary.seeds_per_hour == pytest.approx(3 * 3600 / 3.0)
    assert exit_code(summary) == Outcome.SAFETY.exit_code
    assert "seeds / hour" in to_text(summary) and "reproduce:" in to_text(summary)
    info = SweepInfo("depositnet sim sweep --seeds 0..2", 3, "now", "abc1234", "feed")
    data = json.loads(to_json(summary, results, info))
    assert [f["seed"] for f in data["failures"]] == [0, 1]
    assert data["failures"][0]["reproduce"] == "depositnet sim run --seed 0 --set validators=4"
    assert [r["seed"] for r in data["runs"]] == [0, 1, 2] and data["commit"] == "abc1234"
    markdown = to_markdown(summary, results, info)
    assert "`depositnet sim run --seed 1`" in markdown
    assert "height 3 \\| twice" in markdown  # a reason cannot break the table
