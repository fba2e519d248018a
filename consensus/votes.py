"""Vote accounting by voting power, with strict thresholds and equivocation detection.

A `VoteSet` holds the votes of one (height, round, type). Each validator counts once: its first
vote is kept, an identical copy is a harmless duplicate, and a different second vote is
equivocation, returned so the caller can report evidence, and never counted. Tallies per value
(nil included) are kept incrementally, so a threshold check is O(1) and adding a vote never
recounts. Signatures are checked before a vote gets here; this module trusts its input.
"""

from __future__ import annotations

import enum

from consensus.messages import BlockId, Vote, VoteType


def more_than_two_thirds(power: int, total: int) -> bool:
    """The paper's "2f+1": strictly more than 2/3 of the total voting power."""
    return 3 * power > 2 * total


def more_than_one_third(power: int, total: int) -> bool:
    """The paper's "f+1": strictly more than 1/3 of the total voting power."""
    return 3 * power > total


class AddResult(enum.Enum):
    ADDED = "added"
    DUPLICATE = "duplicate"  # the very same vote again: nothing changes
    CONFLICT = "conflict"  # a different vote from a validator that already voted: evidence


class VoteSet:
    """The votes of one (height, round, type), counted by power."""

    def __init__(self, vote_type: VoteType, total_power: int, *, double_count: bool = False):
        self.vote_type = vote_type
        self.total_power = total_power
        self._double_count = double_count  # planted bug "double_count_vote"
        self._votes: dict[bytes, Vote] = {}
        self._powers: dict[bytes, int] = {}
        self._power_by_value: dict[BlockId | None, int] = {}
        self._power = 0

    def add(self, vote: Vote, power: int) -> tuple[AddResult, Vote | None]:
        """Count `vote` (of a validator with `power`); on conflict also return the first vote."""
        first = self._votes.get(vote.validator)
        if first is not None:
            if first == vote:
                if self._double_count:
                    self._count(vote, power)
                return AddResult.DUPLICATE, None
            return AddResult.CONFLICT, first
        self._votes[vote.validator] = vote
        self._powers[vote.validator] = power
        self._count(vote, power)
        return AddResult.ADDED, None

    def _count(self, vote: Vote, power: int) -> None:
        self._power += power
        self._power_by_value[vote.block_id] = self._power_by_value.get(vote.block_id, 0) + power

    def get(self, validator: bytes) -> Vote | None:
        return self._votes.get(validator)

    def contains(self, vote: Vote) -> bool:
        """True iff exactly this vote (signature included) is already counted."""
        return self._votes.get(vote.validator) == vote

    @property
    def power(self) -> int:
        """Power of all counted votes, whatever their value."""
        return self._power

    def power_for(self, value: BlockId | None) -> int:
        return self._power_by_value.get(value, 0)

    def has_quorum_any(self) -> bool:
        """2f+1 votes of any value (lines 34, 47)."""
        return more_than_two_thirds(self._power, self.total_power)

    def has_quorum_for(self, value: BlockId | None) -> bool:
        """2f+1 votes for `value` (None: nil)."""
        return more_than_two_thirds(self.power_for(value), self.total_power)

    def quorum_value(self) -> tuple[bool, BlockId | None]:
        """(True, v) if some value v (maybe nil) has 2f+1 votes, else (False, None)."""
        for value, power in self._power_by_value.items():
            if more_than_two_thirds(power, self.total_power):
                return True, value
        return False, None

    def votes(self) -> tuple[Vote, ...]:
        """All counted votes, ordered by validator key."""
        return tuple(self._votes[k] for k in sorted(self._votes))

    def votes_for(self, value: BlockId | None) -> tuple[Vote, ...]:
        return tuple(v for v in self.votes() if v.block_id == value)

    def check(self) -> None:
        """Assert the tallies agree with the votes held (catches double counting)."""
        assert self._power == sum(self._powers.values()), "vote set power != sum of voters"
        assert self._power <= self.total_power, "vote set power exceeds total power"
        assert sum(self._power_by_value.values()) == self._power, "tally per value inconsistent"
        for validator, vote in self._votes.items():
            assert vote.validator == validator and vote.type is self.vote_type
