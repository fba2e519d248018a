"""What the simulator needs to know about a payload, without trusting or re-implementing it.

Filters drop messages by kind ("drop only precommits"), and the checkers read the signed votes
and proposals that validators send and receive. Both use the replica's own wire codec; a
payload that does not decode is "garbage". Broadcasts hand the same bytes to many peers, so
decoded messages are cached by payload (bounded: the cache is cleared when full).
"""

from __future__ import annotations

from consensus.codec import DecodeError
from consensus.messages import VoteType
from consensus.replica.decoded import DecodeMemo
from consensus.replica.wire import (
    MAX_WIRE_BYTES,
    ProposalMsg,
    VoteMsg,
    WireMessage,
    decode_wire,
    message_kind,
)

MAX_CACHED = 20_000

_SIMPLE_KINDS = {
    "proposal": "proposal",
    "status": "status",
    "committed_block": "block",
    "get_blocks": "get_blocks",
    "get_round": "get_round",
    "txs": "txs",
    "evidence": "evidence",
}


class WireCache:
    """Decodes payloads once; `decode` returns None for anything malformed.

    `memo` is the run's memo of decoded peer bytes, which the replicas share, so a payload is
    decoded once for the checkers and every receiver together."""

    def __init__(self, memo: DecodeMemo | None = None) -> None:
        self._memo = DecodeMemo(MAX_CACHED) if memo is None else memo
        self._info: dict[bytes, tuple[WireMessage | None, str]] = {}

    def decode(self, payload: bytes) -> WireMessage | None:
        try:
            return self._memo.wire(payload, MAX_WIRE_BYTES, decode_wire)
        except DecodeError:
            return None

    def signed(self, payload: bytes) -> WireMessage | None:
        """The decoded message if it carries a consensus signature (proposal or vote)."""
        return self.info(payload)[0]

    def classify(self, payload: bytes) -> str:
        """proposal, prevote, precommit, status, block, get_blocks, get_round, txs, evidence,
        or garbage."""
        return self.info(payload)[1]

    def info(self, payload: bytes) -> tuple[WireMessage | None, str]:
        """(`signed(payload)`, `classify(payload)`), worked out once per payload: a broadcast
        is looked at when it leaves and again at every receiver."""
        try:
            return self._info[payload]
        except KeyError:
            pass
        found = (self._signed(payload), self._classify(payload))
        if len(self._info) >= MAX_CACHED:
            self._info.clear()
        self._info[payload] = found
        return found

    def _signed(self, payload: bytes) -> WireMessage | None:
        kind = message_kind(payload)
        if kind != "vote" and kind != "proposal":
            return None
        msg = self.decode(payload)
        return msg if isinstance(msg, (VoteMsg, ProposalMsg)) else None

    def _classify(self, payload: bytes) -> str:
        kind = message_kind(payload)
        if kind == "vote":
            msg = self.decode(payload)
            if isinstance(msg, VoteMsg):
                return "prevote" if msg.vote.type is VoteType.PREVOTE else "precommit"
            return "garbage"
        if kind is None:
            return "garbage"
        return _SIMPLE_KINDS.get(kind, "garbage")
