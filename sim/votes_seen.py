"""A record of every validly signed vote and proposal seen in a run, by (height, round).

The checkers need the messages themselves, never a replica's opinion of them: which prevotes
were sent (to know whether a polka for a value existed), and which votes reached correct
validators (the evidence an accountability argument may use). Signatures are checked once per
distinct message before anything is recorded, so a Byzantine sender cannot make the record
claim that a correct validator said something it did not.
"""

from __future__ import annotations

from collections import defaultdict

from consensus.crypto import SignatureScheme
from consensus.messages import BlockId, Proposal, ValidatorSet, Vote, VoteType
from consensus.signing import verify_proposal, verify_vote

VoteKey = tuple[bytes, int, int, VoteType]  # validator, height, round, type


class VoteRecord:
    """Validly signed votes, indexed for polka queries and equivocation detection."""

    def __init__(self, chain_id: str, validators: ValidatorSet, scheme: SignatureScheme) -> None:
        self.chain_id = chain_id
        self.validators = validators
        self.total_power = validators.total_power
        self._power = {v.public_key: v.power for v in validators.validators}
        self._scheme = scheme
        self._verified: dict[Vote | Proposal, bool] = {}
        self._recorded: set[Vote] = set()  # the votes `add` recorded
        # (height, round, type) -> block id (None = nil) -> validators
        self.by_round: dict[tuple[int, int, VoteType], dict[BlockId | None, set[bytes]]] = (
            defaultdict(lambda: defaultdict(set))
        )
        # validator, height, round, type -> the distinct block ids it voted for
        self.by_voter: dict[VoteKey, list[BlockId | None]] = defaultdict(list)

    def power(self, key: bytes) -> int:
        return self._power.get(key, 0)

    def authentic(self, message: Vote | Proposal) -> bool:
        """True if `message` is validly signed by a member (memoised)."""
        known = self._verified.get(message)
        if known is not None:
            return known
        if isinstance(message, Vote):
            ok = message.validator in self._power and verify_vote(
                self._scheme, self.chain_id, message
            )
        else:
            ok = message.proposer in self._power and verify_proposal(
                self._scheme, self.chain_id, message
            )
        self._verified[message] = ok
        return ok

    def add(self, vote: Vote) -> bool:
        """Record `vote` if authentic; True if it was new."""
        if vote in self._recorded:
            return False  # an equal vote was recorded already (it reaches several receivers)
        if not self.authentic(vote):
            return False
        voters = self.by_round[(vote.height, vote.round, vote.type)][vote.block_id]
        if vote.validator in voters:
            return False
        voters.add(vote.validator)
        self._recorded.add(vote)
        ids = self.by_voter[(vote.validator, vote.height, vote.round, vote.type)]
        if vote.block_id not in ids:
            ids.append(vote.block_id)
        return True

    def polka(self, height: int, round: int, block_id: BlockId) -> bool:
        """More than 2/3 of the power prevoted `block_id` at (height, round)."""
        voters = self.by_round.get((height, round, VoteType.PREVOTE), {}).get(block_id, set())
        return 3 * sum(self.power(v) for v in voters) > 2 * self.total_power

    def polka_between(self, height: int, first: int, last: int, block_id: BlockId) -> bool:
        """A polka for `block_id` in some round r with first <= r < last."""
        return any(self.polka(height, r, block_id) for r in range(max(first, 0), last))

    def equivocators(self) -> dict[bytes, str]:
        """Validators with two different votes of one type at one (height, round)."""
        found: dict[bytes, str] = {}
        doubles = [item for item in self.by_voter.items() if len(item[1]) > 1]  # sort only these
        for (key, height, round, vote_type), _ids in sorted(
            doubles, key=lambda item: (item[0][0], item[0][1:3], item[0][3])
        ):
            if key not in found:
                found[key] = f"two {vote_type.name.lower()}s at height {height} round {round}"
        return found

    def amnesiacs(self) -> dict[bytes, str]:
        """Validators that precommitted v at r1 and later prevoted v' != v (not nil) at r2 > r1
        with no polka for v' in any round of [r1, r2) (the TLA+ spec's AmnesiaBy)."""
        found: dict[bytes, str] = {}
        precommits: dict[tuple[bytes, int], list[tuple[int, BlockId]]] = defaultdict(list)
        for (key, height, round, vote_type), ids in self.by_voter.items():
            if vote_type is VoteType.PRECOMMIT:
                precommits[(key, height)].extend((round, b) for b in ids if b is not None)
        # Only a prevote at a round above 0 can follow a precommit (r1 < r2): sort only those.
        later_prevotes = [
            item
            for item in self.by_voter.items()
            if item[0][3] is VoteType.PREVOTE and item[0][2] > 0
        ]
        for (key, height, r2, _), ids in sorted(
            later_prevotes, key=lambda item: (item[0][0], item[0][1:3], item[0][3])
        ):
            if key in found:
                continue
            for r1, locked in precommits.get((key, height), ()):
                for later in ids:
                    if (
                        r1 < r2
                        and later is not None
                        and later != locked
                        and not self.polka_between(height, r1, r2, later)
                    ):
                        found[key] = f"amnesia at height {height}: rounds {r1} -> {r2}"
        return found
