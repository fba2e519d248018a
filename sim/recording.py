"""A run that also records its signed messages (`sim.messages`), for `sim run --report`.

Recording only watches: it draws no random number, schedules nothing and changes no order, so
a recorded run's trace digest is the plain run's (a test checks it). It is a subclass rather
than code in the runner because only the report needs it, and a sweep's runs should not pay
for it.
"""

from __future__ import annotations

from typing import Any

from consensus.replica.wire import ProposalMsg, VoteMsg
from sim.checkers import Violation
from sim.messages import MessageLog
from sim.node import SimNode, Status
from sim.runner import Simulation


class RecordingSimulation(Simulation):
    """`Simulation` plus `messages`: every proposal and vote sent, per link, with arrivals."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages = MessageLog()

    def _outgoing(self, node: SimNode, payload: bytes) -> None:
        """The checkers judge a message as it leaves; if they stop the run, log it as such."""
        try:
            super()._outgoing(node, payload)
        except Violation:
            msg = self.wire.signed(payload)
            if isinstance(msg, ProposalMsg | VoteMsg):
                self.messages.stopped(self.queue.now_ms, node.index, msg)
            raise

    def _send(self, now: int, node: SimNode, key: bytes, payload: bytes) -> int:
        count = super()._send(now, node, key, payload)
        msg = self.wire.signed(payload)
        if isinstance(msg, ProposalMsg | VoteMsg):
            dsts = [dst.index for dst in self.by_key.get(key, ()) if dst is not node]
            # `count` sums the arrivals scheduled for every instance of `key`: per copy it is
            # exact for a key with one instance, and 0 means all dropped (a twin's key has two).
            expected = count if len(dsts) == 1 or count == 0 else None
            self.messages.sent(now, node.index, dsts, payload, msg, expected)
        return count

    def _deliver(self, now: int, node: SimNode, src: int, payload: bytes) -> None:
        held = {Status.DOWN: "down", Status.PAUSED: "paused"}.get(node.status, "")
        self.messages.arrived(now, src, node.index, payload, held)
        super()._deliver(now, node, src, payload)
