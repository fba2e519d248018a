"""configure_logging: JSON lines with consensus context, or a readable line on a terminal."""

from __future__ import annotations

import io
import json
import logging
import sys
import warnings
from collections.abc import Iterator

import pytest

from network.logs import configure_logging


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_height_round_and_peer() -> None:
    out = io.StringIO()
    configure_logging("DEBUG", json=True, stream=out)
    log = logging.getLogger("depositnet.node")
    log.info("committed %s", "block", extra={"height": 7, "round": 1, "peer": bytes(range(32))})
    log.debug("plain")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["msg"] == "committed block" and first["level"] == "info"
    assert first["logger"] == "depositnet.node"
    assert (first["height"], first["round"]) == (7, 1)
    assert first["peer"] == bytes(range(32)).hex()[:16]
    assert first["ts"].endswith("Z")
    assert "height" not in json.loads(lines[1])


def test_exceptions_stay_inside_one_json_line() -> None:
    out = io.StringIO()
    configure_logging(logging.INFO, json=True, stream=out)
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        logging.getLogger("x").exception("failed", extra={"tx_id": b"\x01\x02", "weird": object()})
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert "RuntimeError: boom" in record["exc"] and record["tx_id"] == "0102"
    assert record["weird"].startswith("<object")


def test_terminal_gets_readable_lines_and_reconfiguring_does_not_duplicate() -> None:
    tty = Tty()
    configure_logging("INFO", stream=tty)  # json=None: decided by isatty
    configure_logging("INFO", stream=tty)
    logging.getLogger("depositnet.api").warning("slow", extra={"height": 3})
    lines = tty.getvalue().splitlines()
    assert len(lines) == 1
    assert "WARNING" in lines[0] and "slow" in lines[0] and "height=3" in lines[0]
    assert not lines[0].startswith("{")
    pipe = io.StringIO()
    configure_logging("INFO", stream=pipe)  # not a terminal: JSON
    logging.getLogger("depositnet.api").info("x")
    assert json.loads(pipe.getvalue())["msg"] == "x"
    assert tty.getvalue().count("\n") == 1  # the old handler is gone


def test_json_mode_logs_warnings_and_crashes_as_json_records() -> None:
    pipe = io.StringIO()
    configure_logging("INFO", json=True, stream=pipe)
    try:
        # What `warnings.warn` calls to show a warning (pytest's own capture sits in front).
        warnings.showwarning("old option", UserWarning, "config.py", 1)
        try:
            raise RuntimeError("boom")
        except RuntimeError as exc:
            sys.excepthook(RuntimeError, exc, exc.__traceback__)
        records = [json.loads(line) for line in pipe.getvalue().splitlines()]
        assert any("old option" in r["msg"] for r in records)
        crash = records[-1]
        assert crash["level"] == "critical" and "RuntimeError: boom" in crash["exc"]
    finally:
        configure_logging("INFO", json=False, stream=io.StringIO())
    assert sys.excepthook is sys.__excepthook__
