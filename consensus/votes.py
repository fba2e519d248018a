"""Vote accounting by voting power, with strict thresholds and equivocation detection.

A `VoteSet` holds the votes of one (height, round, type). Tallies are kept incrementally, so a
threshold check is O(1) and adding a vote never recounts. Signatures are checked before a vote
gets here; this module trusts its input.

Counting: once per value, and once overall
------------------------------------------
A validator's first vote counts as it always did: towards the power of its value and towards
`power`, the total of *distinct voters* that "2f+1 of any value" (lines 34, 47) reads. An
identical copy is a harmless duplicate. A vote for a *different* value from a validator that
already voted is equivocation: `add` returns CONFLICT (with the first vote, so the caller can
report evidence), and the vote is also counted towards the tally of its *own* value, never
towards `power`. A validator therefore counts at most once per value, and at most once in the
total. At most `MAX_VALUES_PER_VALIDATOR` distinct values are held per validator; later ones
are reported as conflicts and dropped, so an equivocator cannot make us hold more than that
many votes per vote set. (The price of the bound: an equivocator that signs three values and
gets two of them to a node first can still hide its third from that node.)

Why counting the equivocator's second vote is needed: an equivocator that sent nil to some
honest validators and a block to the others hides a polka from the first group if only first
votes count. They then never see "2f+1 prevotes for id(v) in round vr" (line 28) and refuse
every re-proposal of v. Peers that hold its other vote can send it (GetRound), and it must count.

Why it is safe (powers as fractions of the total, f < 1/3 Byzantine): the tally of a value v
is exactly the power of the validators that signed a vote for v in this (height, round, type),
each once. That is the certificate the paper's quorum rules reason about, whatever else those
validators signed. A polka or a commit for v needs more than 2/3, so more than 2/3 - f of honest
power. Honest validators sign one vote per (height, round, type) (the sign guard enforces it),
so the honest parts of two quorums for different values in one round are disjoint and together
exceed 4/3 - 2f > 1 - f, all the honest power there is: two values still cannot both reach 2/3
in one round. Byzantine power is bounded by f whichever and however many votes it signs;
counting its second signature gives it nothing it could not get already by sending different
votes to different nodes, each of which then counts the one it got first. Across rounds, safety
rests on locks (lines 28-43), which only read these quorums. The "any value" total still counts
each validator once, so timeoutPrevote and timeoutPrecommit (lines 34, 47) fire no earlier than
before, and the round skip (line 55) counts distinct senders in `HeightLog`, unaffected.
"""

from __future__ import annotations

import enum

from consensus.messages import BlockId, Vote, VoteType

MAX_VALUES_PER_VALIDATOR = 2
"""Distinct values counted per validator in one vote set: its first vote and one conflicting."""


def more_than_two_thirds(power: int, total: int) -> bool:
    """The paper's "2f+1": strictly more than 2/3 of the total voting power."""
    return 3 * power > 2 * total


def more_than_one_third(power: int, total: int) -> bool:
    """The paper's "f+1": strictly more than 1/3 of the total voting power."""
    return 3 * power > total


class AddResult(enum.Enum):
    ADDED = "added"
    DUPLICATE = "duplicate"  # a vote for a value this validator already holds: nothing changes
    CONFLICT = "conflict"  # a different value from a validator that already voted: evidence


# Enum members as module constants: looking a member up on its Enum class costs more than the
# test it feeds, and this code runs for every message.

ADDED, DUPLICATE, CONFLICT = AddResult.ADDED, AddResult.DUPLICATE, AddResult.CONFLICT


class VoteSet:
    """The votes of one (height, round, type), counted by power (see the module docstring)."""

    def __init__(self, vote_type: VoteType, total_power: int, *, double_count: bool = False):
        self.vote_type = vote_type
        self.total_power = total_power
        self._double_count = double_count  # planted bug "double_count_vote"
        self._votes: dict[bytes, list[Vote]] = {}  # validator -> its counted votes, first first
        self._powers: dict[bytes, int] = {}
        self._power_by_value: dict[BlockId | None, int] = {}
        self._power = 0  # distinct voters, by their first vote

    def add(self, vote: Vote, power: int) -> tuple[AddResult, Vote | None]:
        """Count `vote` (of a validator with `power`); on conflict also return the first vote.

        A conflicting vote (another value) is counted towards its own value while the validator
        holds fewer than MAX_VALUES_PER_VALIDATOR values; either way the result is CONFLICT."""
        held = self._votes.get(vote.validator)
        if held is None:
            self._votes[vote.validator] = [vote]
            self._powers[vote.validator] = power
            self._power += power
            self._count_value(vote.block_id, power)
            return ADDED, None
        same = next((h for h in held if h.block_id == vote.block_id), None)
        if same is not None:
            # The same value again (an identical copy, or the same vote signed anew): not new.
            if self._double_count and same == vote:
                self._power += power  # planted bug: an identical copy counted again
                self._count_value(vote.block_id, power)
            return DUPLICATE, None
        if len(held) < MAX_VALUES_PER_VALIDATOR:
            held.append(vote)
            self._count_value(vote.block_id, self._powers[vote.validator])
        return CONFLICT, held[0]

    def _count_value(self, value: BlockId | None, power: int) -> None:
        self._power_by_value[value] = self._power_by_value.get(value, 0) + power

    def get(self, validator: bytes) -> Vote | None:
        """The validator's first vote (the one `power` counts)."""
        held = self._votes.get(validator)
        return None if held is None else held[0]

    def contains(self, vote: Vote) -> bool:
        """True iff exactly this vote (signature included) is already counted."""
        return vote in self._votes.get(vote.validator, ())

    @property
    def power(self) -> int:
        """Power of the distinct validators that voted, whatever their value (first votes)."""
        return self._power

    def power_for(self, value: BlockId | None) -> int:
        """Power of the validators that voted for `value` (each at most once)."""
        return self._power_by_value.get(value, 0)

    def has_quorum_any(self) -> bool:
        """2f+1 votes of any value (lines 34, 47), each validator counted once."""
        return more_than_two_thirds(self._power, self.total_power)

    def has_quorum_for(self, value: BlockId | None) -> bool:
        """2f+1 votes for `value` (None: nil)."""
        return more_than_two_thirds(self._power_by_value.get(value, 0), self.total_power)

    def quorum_value(self) -> tuple[bool, BlockId | None]:
        """(True, v) if some value v (maybe nil) has 2f+1 votes, else (False, None)."""
        for value, power in self._power_by_value.items():
            if more_than_two_thirds(power, self.total_power):
                return True, value
        return False, None

    def votes(self) -> tuple[Vote, ...]:
        """All counted votes, conflicting ones included, ordered by validator key (a validator's
        first vote before its conflicting one): what a peer asking for the round is sent."""
        return tuple(v for k in sorted(self._votes) for v in self._votes[k])

    def votes_for(self, value: BlockId | None) -> tuple[Vote, ...]:
        """The counted votes for `value`, at most one per validator, ordered by validator key."""
        return tuple(v for v in self.votes() if v.block_id == value)

    def check(self) -> None:
        """Assert the tallies agree with the votes held (catches double counting)."""
        powers = self._powers
        assert self._power == sum(powers.values()), "vote set power != sum of voters"
        assert self._power <= self.total_power, "vote set power exceeds total power"
        vote_type = self.vote_type
        expected: dict[BlockId | None, int] = {}
        for validator, held in self._votes.items():
            assert 1 <= len(held) <= MAX_VALUES_PER_VALIDATOR, "too many values held"
            if len(held) > 1:
                assert len({v.block_id for v in held}) == len(held), "a value counted twice"
            for vote in held:
                assert vote.validator == validator and vote.type is vote_type
                expected[vote.block_id] = expected.get(vote.block_id, 0) + powers[validator]
        tallies = self._power_by_value
        actual = tallies if all(tallies.values()) else {k: p for k, p in tallies.items() if p}
        assert actual == expected, "tally per value inconsistent with the votes held"
        if actual and max(actual.values()) > self._power:  # then say which value, as before
            for value, power in actual.items():
                assert power <= self._power, f"more power for {value!r} than distinct voters"
