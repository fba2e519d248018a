"""What the simulator needs to know about a payload, without trusting or re-implementing it.

Filters drop messages by kind ("drop only precommits"), and the checkers read the signed votes
and proposals that validators send and receive. Both use the replica's own wire codec; a
payload that does not decode is "garbage". Broadcasts hand the same bytes to many peers, so
decoded messages are cached by payload (bounded: the cache is cleared when full).
"""

from __future__ import annotations

from consensus.codec import DecodeError
from consensus.messages import VoteType
from consensus.replica.wire import ProposalMsg, VoteMsg, WireMessage, decode_wire, message_kind

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
    """Decodes payloads once; `decode` returns None for anything malformed."""

    def __init__(self) -> None:
        self._cache: dict[bytes, WireMessage | None] = {}

    def decode(self, payload: bytes) -> WireMessage | None:
        try:
            return self._cache[payload]
        except KeyError:
            pass
        try:
            msg: WireMessage | None = decode_wire(payload)
        except DecodeError:
            msg = None
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[payload] = msg
        return msg

    def signed(self, payload: bytes) -> WireMessage | None:
        """The decoded message if it carries a consensus signature (proposal or vote)."""
        kind = message_kind(payload)
        if kind != "vote" and kind != "proposal":
            return None
        msg = self.decode(payload)
        return msg if isinstance(msg, VoteMsg | ProposalMsg) else None

    def classify(self, payload: bytes) -> str:
        """proposal, prevote, precommit, status, block, get_blocks, get_round, txs, evidence,
        or garbage."""
        kind = message_kind(payload)
        if kind == "vote":
            msg = self.decode(payload)
            if isinstance(msg, VoteMsg):
                return "prevote" if msg.vote.type is VoteType.PREVOTE else "precommit"
            return "garbage"
        if kind is None:
            return "garbage"
        return _SIMPLE_KINDS.get(kind, "garbage")
