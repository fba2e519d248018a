"""The message log of one height: proposals, vote sets, validity verdicts, who spoke in which round.

Everything the upon-rules of Algorithm 1 ask about ("a proposal from proposer(h, r)", "2f+1
prevotes for id(v) in round vr", "f+1 messages at a higher round") is answered here in O(1),
from tallies maintained as messages arrive. Prevotes of earlier rounds are kept for the whole
height (line 28 needs them). Messages are admitted (signature checked) before they get here.

Byzantine senders could open unboundedly many rounds; each sender may therefore hold messages in
at most `MAX_FUTURE_ROUNDS_PER_SENDER` rounds above ours at a time (CometBFT allows 2).
"""

from __future__ import annotations

from consensus.messages import BlockId, DuplicateVoteEvidence, Proposal, Vote, VoteType
from consensus.votes import CONFLICT, DUPLICATE, AddResult, VoteSet

MAX_FUTURE_ROUNDS_PER_SENDER = 2


class HeightLog:
    """Proposals, votes, evidence and validity verdicts of the current height."""

    def __init__(self, total_power: int, *, double_count: bool = False) -> None:
        self.total_power = total_power
        self._double_count = double_count
        self.proposals: dict[int, Proposal] = {}
        self._vote_sets: dict[tuple[int, VoteType], VoteSet] = {}
        self._handed_out: set[tuple[int, VoteType]] = set()  # by `vote_set`, since last checked
        self._round_power: dict[int, int] = {}  # power of distinct senders per round (line 55)
        self._sender_rounds: dict[bytes, set[int]] = {}
        self.verdicts: dict[BlockId, bool] = {}
        self.requested: set[BlockId] = set()
        self.evidence: list[DuplicateVoteEvidence] = []
        self._evidence_slots: set[tuple[bytes, int, VoteType]] = set()

    # -------------------------------------------------------------- votes

    def vote_set(self, round: int, vote_type: VoteType) -> VoteSet:
        """The vote set of (round, type), created if new. Every change to a vote set goes
        through here, so the sets handed out since the last check are the only ones an
        invariant check needs to look at again (`vote_sets_to_check`)."""
        key = (round, vote_type)
        self._handed_out.add(key)
        found = self._vote_sets.get(key)
        if found is None:
            found = VoteSet(vote_type, self.total_power, double_count=self._double_count)
            self._vote_sets[key] = found
        return found

    def peek_vote_set(self, round: int, vote_type: VoteType) -> VoteSet | None:
        return self._vote_sets.get((round, vote_type))

    def has_vote(self, vote: Vote) -> bool:
        found = self._vote_sets.get((vote.round, vote.type))
        return found is not None and found.contains(vote)

    def add_vote(self, vote: Vote, power: int) -> AddResult:
        """Count an admitted vote; a conflicting one is recorded as evidence, and counted only
        towards its own value (see `consensus.votes`).

        Only the first conflict per (validator, round, type) becomes evidence (one proof is
        enough, and a Byzantine signer must not grow the list without bound); later ones
        count as duplicates. With MAX_VALUES_PER_VALIDATOR = 2 the first conflict is also the
        only conflicting vote a vote set counts, so a DUPLICATE never changes a tally."""
        result, first = self.vote_set(vote.round, vote.type).add(vote, power)
        if result is CONFLICT:
            assert first is not None
            slot = (vote.validator, vote.round, vote.type)
            if slot in self._evidence_slots:
                return DUPLICATE
            self._evidence_slots.add(slot)
            self.evidence.append(DuplicateVoteEvidence(first, vote))
        else:
            self.note_sender(vote.round, vote.validator, power)
        return result

    # -------------------------------------------------------------- rounds

    def note_sender(self, round: int, sender: bytes, power: int) -> None:
        rounds = self._sender_rounds.get(sender)
        if rounds is None:
            rounds = self._sender_rounds[sender] = set()
        if round not in rounds:
            rounds.add(round)
            self._round_power[round] = self._round_power.get(round, 0) + power

    def round_power(self, round: int) -> int:
        """Power of the distinct validators with any message at `round`."""
        return self._round_power.get(round, 0)

    def admits_round(self, sender: bytes, round: int, current_round: int) -> bool:
        """False if accepting a message at `round` would give `sender` too many future rounds."""
        if round <= current_round:
            return True
        rounds = self._sender_rounds.get(sender, set())
        if round in rounds:
            return True
        ahead = sum(1 for r in rounds if r > current_round)
        return ahead < MAX_FUTURE_ROUNDS_PER_SENDER

    def rounds_above(self, round: int) -> list[int]:
        round_power = self._round_power
        if len(round_power) == 1 and round in round_power:
            return []  # the common case, asked after every message: only our round is known
        return sorted(r for r in round_power if r > round)

    def rounds(self) -> tuple[int, ...]:
        found = set(self.proposals) | {r for r, _ in self._vote_sets}
        return tuple(sorted(found))

    def vote_sets(self) -> list[VoteSet]:
        return list(self._vote_sets.values())

    def vote_sets_to_check(self) -> list[VoteSet]:
        """The vote sets handed out by `vote_set` since the last call, in creation order (as
        `vote_sets` lists them); the others have not changed since they were last checked."""
        handed_out, self._handed_out = self._handed_out, set()
        if len(handed_out) == len(self._vote_sets):
            return list(self._vote_sets.values())
        return [found for key, found in self._vote_sets.items() if key in handed_out]
