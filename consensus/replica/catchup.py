"""Catch-up bookkeeping: which committed blocks to ask for, from whom, and what arrived early.

A replica that learns from a status that a peer has committed our next height asks that peer
for a batch of committed blocks (`GetBlocks`), each answered as a `CommittedBlock` carrying the
block and its commit certificate. Only one request is outstanding; if it is not answered within
`retry_ms` the next peer (sorted order, rotating) is asked. Blocks that arrive ahead of the one
we need wait here, at most `max_batch` of them, keyed by height. The replica verifies every
commit with `verify_commit` before executing anything; this module only keeps the books.
"""

from __future__ import annotations

import attrs

from consensus.messages import Commit
from consensus.replica.block import Block
from consensus.replica.wire import GetBlocks


@attrs.frozen
class Fetched:
    block: Block
    raw: bytes
    commit: Commit
    peer: bytes  # who sent it, blamed if it turns out invalid here


@attrs.frozen
class _Request:
    peer: bytes
    end: int  # last height asked for
    deadline_ms: int


class CatchUp:
    def __init__(self, *, max_batch: int, retry_ms: int) -> None:
        self._max_batch = max_batch
        self._retry_ms = retry_ms
        self._request: _Request | None = None
        self._attempt = 0
        self._early: dict[int, Fetched] = {}

    @property
    def outstanding(self) -> bool:
        return self._request is not None

    def next_request(
        self, next_height: int, candidates: list[tuple[bytes, int]], now_ms: int
    ) -> tuple[bytes, GetBlocks, int] | None:
        """(peer, request, deadline) to send now, if any. `candidates`: (peer, last committed)
        of connected peers that have committed `next_height`, sorted by peer key."""
        request = self._request
        if request is not None:
            if now_ms < request.deadline_ms and request.end >= next_height:
                return None
            if now_ms >= request.deadline_ms:
                self._attempt += 1  # that peer did not answer in time: rotate
            self._request = None
        if not candidates:
            return None
        peer, last = candidates[self._attempt % len(candidates)]
        count = min(self._max_batch, last - next_height + 1)
        deadline = now_ms + self._retry_ms
        self._request = _Request(peer, next_height + count - 1, deadline)
        return peer, GetBlocks(next_height, count), deadline

    def committed(self, height: int) -> None:
        """Height `height` is now committed (by catch-up or by consensus)."""
        for h in [h for h in self._early if h <= height]:
            del self._early[h]
        if self._request is not None and self._request.end <= height:
            self._request = None

    def peer_gone(self, peer: bytes) -> None:
        if self._request is not None and self._request.peer == peer:
            self._request = None

    def stash(self, next_height: int, fetched: Fetched) -> bool:
        """Keep a block that arrived before `next_height` was committed (bounded window)."""
        height = fetched.block.header.height
        if not next_height < height < next_height + self._max_batch or height in self._early:
            return False
        self._early[height] = fetched
        return True

    def take(self, height: int) -> Fetched | None:
        return self._early.pop(height, None)

    def __len__(self) -> int:
        return len(self._early)
