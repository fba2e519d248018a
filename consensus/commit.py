"""Checking certificates without trusting whoever sent them: commits and equivocation evidence.

`verify_commit` is what catch-up and clients use to accept a block as final: precommits for the
block, all for the same (height, round), from distinct members of the validator set, correctly
signed for this chain, holding strictly more than 2/3 of the power. `verify_evidence` checks a
duplicate-vote claim before anyone acts on it.
"""

from __future__ import annotations

from consensus.crypto import ED25519, SignatureScheme
from consensus.messages import BlockId, Commit, DuplicateVoteEvidence, ValidatorSet, Vote, VoteType
from consensus.signing import verify_vote
from consensus.votes import more_than_two_thirds


class CommitError(ValueError):
    """A commit certificate that does not prove what it claims; the message says why."""


class EvidenceError(ValueError):
    """Evidence of equivocation that does not hold up; the message says why."""


def commit_power(commit: Commit, validators: ValidatorSet) -> int:
    """Power of the distinct members among the commit's signers (signatures not checked)."""
    signers = {v.validator for v in commit.precommits if isinstance(v, Vote)}
    return sum(validators.power_of(k) for k in signers)


def verify_commit(
    commit: Commit,
    validators: ValidatorSet,
    chain_id: str,
    block_id: BlockId,
    scheme: SignatureScheme = ED25519,
    height: int | None = None,
) -> None:
    """Return if `commit` proves `block_id` final (at `height`, if given); else CommitError."""
    if not isinstance(commit, Commit) or not isinstance(commit.precommits, tuple):
        raise CommitError("not a commit")
    if commit.block_id != block_id:
        raise CommitError("the commit is for another block")
    if height is not None and commit.height != height:
        raise CommitError(f"the commit is for height {commit.height}, not {height}")
    if len(commit.precommits) > len(validators.validators):
        raise CommitError("more precommits than validators")
    seen: set[bytes] = set()
    power = 0
    for vote in commit.precommits:
        if not isinstance(vote, Vote) or vote.type is not VoteType.PRECOMMIT:
            raise CommitError("a commit holds precommits only")
        if (vote.height, vote.round, vote.block_id) != (commit.height, commit.round, block_id):
            raise CommitError("a precommit is for another height, round or block")
        if vote.validator in seen:
            raise CommitError("duplicate signer")
        seen.add(vote.validator)
        member_power = validators.power_of(vote.validator)
        if member_power == 0:
            raise CommitError("a signer is not in the validator set")
        power += member_power
    if not more_than_two_thirds(power, validators.total_power):
        raise CommitError(f"signers hold {power} of {validators.total_power}: not more than 2/3")
    for vote in commit.precommits:  # the expensive part last
        if not verify_vote(scheme, chain_id, vote):
            raise CommitError("a precommit's signature is invalid (or for another chain)")


def verify_evidence(
    evidence: DuplicateVoteEvidence,
    validators: ValidatorSet,
    chain_id: str,
    scheme: SignatureScheme = ED25519,
) -> None:
    """Return if `evidence` proves a member signed two different votes for one (h, r, type)."""
    a, b = evidence.vote_a, evidence.vote_b
    if not isinstance(a, Vote) or not isinstance(b, Vote):
        raise EvidenceError("evidence holds two votes")
    if not isinstance(a.type, VoteType) or not isinstance(b.type, VoteType):
        raise EvidenceError("evidence votes must have a vote type")
    if a.validator != b.validator:
        raise EvidenceError("the votes are from different validators")
    if (a.type, a.height, a.round) != (b.type, b.height, b.round):
        raise EvidenceError("the votes are for different (height, round, type)")
    if a.block_id == b.block_id:
        raise EvidenceError("the votes are for the same value")
    if not validators.is_member(a.validator):
        raise EvidenceError("the validator is not in the validator set")
    if not (verify_vote(scheme, chain_id, a) and verify_vote(scheme, chain_id, b)):
        raise EvidenceError("a vote's signature is invalid (or for another chain)")
