"""A sweep's progress on stderr: done/total, failures so far, seeds per hour and the ETA.

A sweep of 10,000 seeds runs for hours, so its operator needs to know how far it is and
whether it finds anything without waiting for the table. On a terminal one line is redrawn
after every result; in a log (not a terminal) a line is written every `every_s` seconds, so
the log stays readable. Each failing seed is written at once, with its reproduction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from sim.result import RunResult


def duration(seconds: float) -> str:
    """`2h 05m`, `3m 20s`, `12s`: precise enough for an ETA."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


class Progress:
    """Feed it every result; it writes what an operator watching the sweep wants to see."""

    def __init__(
        self,
        total: int,
        out: TextIO,
        *,
        tty: bool,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.done = 0
        self.failing = 0
        self._out = out
        self._tty = tty
        self._every_s = every_s
        self._clock = clock
        self._started = clock()
        self._written = self._started

    def start(self) -> None:
        """The cluster is up: rates count from now, not from the start-up."""
        self._started = self._written = self._clock()

    def line(self) -> str:
        elapsed = self._clock() - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = duration(left / rate) if rate and left else ("-" if left else "done")
        return (
            f"{self.done}/{self.total} seeds, {self.failing} failing, "
            f"{rate * 3600:,.0f} seeds/h, {duration(elapsed)} elapsed, ETA {eta}"
        )

    def on_result(self, result: RunResult) -> None:
        self.done += 1
        if result.outcome.failed:
            self.failing += 1
            self._write(result.summary_line(), redraw=False)
        now = self._clock()
        if self._tty or now - self._written >= self._every_s:
            self._written = now
            self._write(self.line(), redraw=True)

    def finish(self) -> None:
        self._write(self.line(), redraw=True)
        if self._tty:
            self._out.write("\n")
            self._out.flush()

    def _write(self, text: str, *, redraw: bool) -> None:
        if self._tty:
            # Overwrite the status line; a failure's lines stay above the next status line.
            self._out.write("\r\x1b[K" + text + ("" if redraw else "\n"))
        else:
            self._out.write(text + "\n")
        self._out.flush()
