"""Peer bookkeeping for gossip: who is connected, what each says it holds, what may be kept.

The paper assumes that a message one correct validator received reaches every correct one.
Over point-to-point links that takes three things, all driven from here by the replica:
re-sending our own current-height messages to a peer that (re)connects, a periodic `StatusMsg`
(height, round, step, last committed height, which proposal and votes we hold for our round),
and pushing to a peer what its status shows it lacks once it has stayed at the same (height,
round) for a status interval (earlier, the ordinary broadcasts are still in flight, and pushing
would only duplicate them). Everything here is bounded by the size of
the validator set or by an explicit cap, so a Byzantine peer cannot grow it without limit.
"""

from __future__ import annotations

from collections import OrderedDict

from consensus.messages import ValidatorSet, Vote
from consensus.replica.wire import StatusMsg, WireMessage, bitmap_has


class PeerTable:
    """Connected validator peers and their last status, iterated in sorted key order."""

    def __init__(self, validators: ValidatorSet, own_key: bytes | None) -> None:
        self._index = {v.public_key: i for i, v in enumerate(validators.validators)}
        self._own_key = own_key
        self._connected: set[bytes] = set()
        self._sorted: list[bytes] | None = []  # `_connected` sorted, kept until it changes
        self._status: dict[bytes, StatusMsg] = {}

    def is_validator(self, key: bytes) -> bool:
        return key in self._index and key != self._own_key

    def index_of(self, key: bytes) -> int | None:
        return self._index.get(key)

    @property
    def size(self) -> int:
        """Validators in the set (bitmap indices are below this)."""
        return len(self._index)

    def connect(self, peer: bytes) -> None:
        self._connected.add(peer)
        self._sorted = None

    def disconnect(self, peer: bytes) -> None:
        self._connected.discard(peer)
        self._sorted = None
        self._status.pop(peer, None)

    def connected(self) -> list[bytes]:
        return list(self._in_order())

    def _in_order(self) -> list[bytes]:
        """The connected peers, sorted (read-only: every status asks, connections rarely
        change)."""
        found = self._sorted
        if found is None:
            found = self._sorted = sorted(self._connected)
        return found

    def is_connected(self, peer: bytes) -> bool:
        return peer in self._connected

    def record_status(self, peer: bytes, status: StatusMsg) -> bool:
        """Remember `status`; True if the peer was already at that (height, round) before,
        i.e. it has been there for a status interval and may be missing messages."""
        previous = self._status.get(peer)
        self._status[peer] = status
        return previous is not None and (previous.height, previous.round) == (
            status.height,
            status.round,
        )

    def status(self, peer: bytes) -> StatusMsg | None:
        return self._status.get(peer)

    def at_height(self, height: int) -> list[bytes]:
        """Connected peers whose last status is at `height`, sorted."""
        return [
            p
            for p in self._in_order()
            if (s := self._status.get(p)) is not None and s.height == height
        ]

    def ahead_of(self, height: int) -> list[bytes]:
        """Connected peers that have committed at least `height`, sorted."""
        return [
            p
            for p in self._in_order()
            if (s := self._status.get(p)) is not None and s.last_committed >= height
        ]

    def highest_committed(self) -> int:
        return max((s.last_committed for s in self._status.values()), default=0)

    def lacks_vote(self, status: StatusMsg, vote: Vote) -> bool:
        """True if `status` does not show `vote`'s validator for its type."""
        index = self._index.get(vote.validator)
        if index is None:
            return False
        bits = status.prevotes if vote.type == 1 else status.precommits
        return not bitmap_has(bits, index)


class FutureBuffer:
    """Messages for heights just above ours, capped per peer, released in arrival order."""

    def __init__(self, max_per_peer: int) -> None:
        self._cap = max_per_peer
        self._items: list[tuple[int, bytes, WireMessage]] = []
        self._count: dict[bytes, int] = {}

    def add(self, height: int, peer: bytes, msg: WireMessage) -> bool:
        if self._count.get(peer, 0) >= self._cap:
            return False
        self._items.append((height, peer, msg))
        self._count[peer] = self._count.get(peer, 0) + 1
        return True

    def has_proposal_for(self, height: int) -> bool:
        return any(h == height and type(m).__name__ == "ProposalMsg" for h, _, m in self._items)

    def release(self, height: int) -> list[tuple[bytes, WireMessage]]:
        """Remove and return the messages for `height`; drop those for lower heights."""
        out = [(p, m) for h, p, m in self._items if h == height]
        self._items = [item for item in self._items if item[0] > height]
        self._count = {}
        for _, p, _ in self._items:
            self._count[p] = self._count.get(p, 0) + 1
        return out

    def __len__(self) -> int:
        return len(self._items)


class SeenCache:
    """A bounded LRU set of hashes (transaction gossip dedupe)."""

    def __init__(self, capacity: int) -> None:
        self._cap = capacity
        self._items: OrderedDict[bytes, None] = OrderedDict()

    def check_and_add(self, key: bytes) -> bool:
        """True if `key` was already present (and refresh it); else remember it."""
        if key in self._items:
            self._items.move_to_end(key)
            return True
        self._items[key] = None
        if len(self._items) > self._cap:
            self._items.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._items)
