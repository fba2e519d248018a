"""Who sent which signed consensus message to whom, and when it arrived: the report's raw data.

A failure is read in its messages: the proposal that reached some validators and not others,
the prevotes that made a polka for one of them, the precommit sent before its sign state was
durable. `MessageLog` keeps one `Copy` per (sender instance, receiving instance, message) of
every proposal, prevote and precommit a run carried, with the times it arrived (none: lost, or
still in flight at the end; two: duplicated) and whether the receiver was down or paused.

It keeps only the most recent `MAX_COPIES` copies: a violation ends its run, so the messages
around it are the last ones, and a long run's log stays a few megabytes.
"""

from __future__ import annotations

import collections
import re

import attrs

from consensus.messages import VoteType
from consensus.replica.wire import ProposalMsg, VoteMsg

MAX_COPIES = 60_000
KINDS: tuple[str, ...] = ("proposal", "prevote", "precommit")


@attrs.define
class Copy:
    """One signed message on one directed link."""

    sent_ms: int
    src: int  # sending instance
    dst: int  # receiving instance
    kind: str  # one of KINDS
    height: int
    round: int
    value: bytes | None  # block id; None for a nil vote
    signer: bytes  # the key that signed it (a relayed message is not the sender's own)
    valid_round: int = -1  # proposals only
    arrived_ms: list[int] = attrs.field(factory=list)
    held: str = ""  # "down" or "paused" when the receiver could not handle it on arrival
    expected: int | None = None  # arrivals the network scheduled (0: dropped); None: unknown
    stopped: bool = False  # never sent: the violation was raised as it left (dst is src)

    @property
    def order(self) -> tuple[int, int, int, int]:
        return (self.sent_ms, self.src, KINDS.index(self.kind), self.dst)


def describe(msg: ProposalMsg | VoteMsg) -> tuple[str, int, int, bytes | None, bytes, int]:
    """(kind, height, round, value, signer, valid round) of a signed message."""
    if isinstance(msg, ProposalMsg):
        p = msg.proposal
        return "proposal", p.height, p.round, p.block_id, p.proposer, p.valid_round
    v = msg.vote
    kind = "prevote" if v.type is VoteType.PREVOTE else "precommit"
    return kind, v.height, v.round, v.block_id, v.validator, -1


class MessageLog:
    """The most recent signed messages of a run, per link, with their arrivals.

    A link may carry the same bytes more than once (a re-send on reconnect, a relayed vote);
    arrivals go to the oldest copy still owed one, and a duplicate beyond that to the latest.
    """

    def __init__(self, max_copies: int = MAX_COPIES) -> None:
        self.copies: collections.deque[Copy] = collections.deque(maxlen=max_copies)
        self._owed: dict[tuple[int, int, bytes], list[Copy]] = {}
        self._latest: dict[tuple[int, int, bytes], Copy] = {}

    def sent(
        self,
        now: int,
        src: int,
        dsts: list[int],
        payload: bytes,
        msg: ProposalMsg | VoteMsg,
        expected: int | None,
    ) -> None:
        """`src` sent `msg` to each of `dsts`; the network scheduled `expected` arrivals for
        each copy (None when it cannot be told per copy)."""
        kind, height, round_, value, signer, valid_round = describe(msg)
        for dst in dsts:
            copy = Copy(now, src, dst, kind, height, round_, value, signer, valid_round)
            copy.expected = expected
            self.copies.append(copy)
            key = (src, dst, payload)
            self._latest[key] = copy
            if expected != 0:
                self._owed.setdefault(key, []).append(copy)
        if len(self._latest) > 2 * (self.copies.maxlen or MAX_COPIES):
            self._latest.clear()  # only a duplicate's fallback needs it: forget old links

    def stopped(self, now: int, src: int, msg: ProposalMsg | VoteMsg) -> None:
        """`msg` was leaving `src` when a checker stopped the run (e.g. sent before persisted)."""
        kind, height, round_, value, signer, valid_round = describe(msg)
        copy = Copy(now, src, src, kind, height, round_, value, signer, valid_round)
        copy.stopped = True
        self.copies.append(copy)

    def arrived(self, now: int, src: int, dst: int, payload: bytes, held: str) -> None:
        key = (src, dst, payload)
        owed = self._owed.get(key)
        copy = owed[0] if owed else self._latest.get(key)
        if copy is None:
            return
        copy.arrived_ms.append(now)
        if held and not copy.held:
            copy.held = held
        if owed and len(copy.arrived_ms) >= (copy.expected or 1):
            owed.pop(0)
            if not owed:
                del self._owed[key]


def focus(reason: str) -> tuple[int | None, int | None]:
    """The height and round a violation names (`... height 7 round 2 ...`), if it names them."""
    height = re.search(r"\bheight (\d+)", reason)
    round_ = re.search(r"\bround (\d+)", reason)
    return (
        int(height.group(1)) if height else None,
        int(round_.group(1)) if round_ else None,
    )
