"""Consensus values: what validators sign, send and keep.

Values only; encoding lives in `consensus.codec` and sign bytes in `consensus.signing`, so that
a value can never be confused with its wire form. Every class is frozen and hashable. A block is
opaque here: consensus decides on a `BlockId` (32-byte hash); `None` is the paper's nil.
"""

from __future__ import annotations

import enum

import attrs

BlockId = bytes
"""The 32-byte hash that identifies a proposed value (block)."""

BLOCK_ID_SIZE = 32
MAX_KEPT_OWN_VOTES = 256
"""Own votes of a height a sign state keeps (`SignState.own_votes`): those of 128 rounds."""
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


class Step(enum.IntEnum):
    """The steps of a round, in the order a validator passes through them (paper line 11+)."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2


class VoteType(enum.IntEnum):
    PREVOTE = 1
    PRECOMMIT = 2

    @property
    def step(self) -> Step:
        return _VOTE_STEPS[self]


_VOTE_STEPS = {VoteType.PREVOTE: Step.PREVOTE, VoteType.PRECOMMIT: Step.PRECOMMIT}


@attrs.frozen(cache_hash=True)
class Proposal:
    """<PROPOSAL, h, r, v, vr> of the paper; `block_id` stands for v."""

    height: int
    round: int
    valid_round: int  # -1 when the proposer had no validValue (paper line 22 path)
    block_id: BlockId
    proposer: bytes  # Ed25519 public key
    signature: bytes = b""


@attrs.frozen(cache_hash=True)
class Vote:
    """<PREVOTE|PRECOMMIT, h, r, id(v)|nil>; `block_id is None` is a vote for nil."""

    type: VoteType
    height: int
    round: int
    block_id: BlockId | None
    validator: bytes  # Ed25519 public key
    signature: bytes = b""


@attrs.frozen
class Commit:
    """The certificate that a block is final: precommits for it from > 2/3 of the power."""

    height: int
    round: int
    block_id: BlockId
    precommits: tuple[Vote, ...]


@attrs.frozen
class Validator:
    public_key: bytes
    power: int
    name: str = ""


@attrs.frozen(cache_hash=True)
class ValidatorSet:
    """The validators of a height, sorted by public key (the address order used for ties).

    Power is looked up for every vote, so each key's power and the total are computed once, at
    construction (the set is frozen); they take no part in equality. A malformed set (which
    `consensus.codec.validate_validator_set` refuses) falls back to scanning."""

    validators: tuple[Validator, ...]
    _powers: dict[bytes, int] | None = attrs.field(init=False, eq=False, repr=False)
    _total_power: int | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        powers: dict[bytes, int] | None = {}
        total: int | None
        try:
            for validator in self.validators:  # the first entry of a key wins, as a scan's
                powers.setdefault(validator.public_key, validator.power)  # type: ignore[union-attr]
            total = sum(v.power for v in self.validators)
        except Exception:  # not a well-formed set: answer by scanning, as before
            powers, total = None, None
        object.__setattr__(self, "_powers", powers)
        object.__setattr__(self, "_total_power", total)

    @property
    def total_power(self) -> int:
        total = self._total_power
        return sum(v.power for v in self.validators) if total is None else total

    def power_of(self, public_key: bytes) -> int:
        """The voting power of `public_key`, 0 for a non-member."""
        powers = self._powers
        if powers is not None:
            try:
                return powers.get(public_key, 0)
            except TypeError:  # an unhashable key: compare as the scan does
                pass
        for validator in self.validators:
            if validator.public_key == public_key:
                return validator.power
        return 0

    def is_member(self, public_key: bytes) -> bool:
        return self.power_of(public_key) > 0


@attrs.frozen
class DuplicateVoteEvidence:
    """Two different signed votes by one validator for the same (height, round, type)."""

    vote_a: Vote
    vote_b: Vote


@attrs.frozen
class SignedRecord:
    """The last message this validator signed: what the double-sign guard compares against."""

    height: int
    round: int
    step: Step
    sign_bytes: bytes
    signature: bytes


@attrs.frozen
class SignState:
    """All a validator must persist (synced) before a signature leaves it, to resume safely.

    `last_signed` is None only before the validator has ever signed. `valid_polka` is the
    proof behind `valid_value`: the 2f+1 prevotes for it in `valid_round` (lines 36, 42-43),
    kept because a restarted validator re-proposes its valid value with vr = valid_round
    (lines 15-16) and everyone needs that polka to take it (line 28), while the prevotes may
    survive nowhere else (the messages were lost and those who held them restarted).
    `own_votes` are the votes this validator signed at `height`, oldest first (the latest
    `MAX_KEPT_OWN_VOTES`): a restarted validator sends them all again, as a write-ahead log's
    replay would, because the others may wait for any of them (2f+1 votes of a round, lines 34
    and 47) and the network may have lost them.
    """

    height: int
    round: int
    step: Step
    locked_round: int = -1
    locked_value: BlockId | None = None
    valid_round: int = -1
    valid_value: BlockId | None = None
    last_signed: SignedRecord | None = None
    valid_polka: tuple[Vote, ...] = ()
    own_votes: tuple[Vote, ...] = ()
