"""Sign bytes, signatures across chains, verify_commit and verify_evidence."""

from __future__ import annotations

import attrs
import pytest

from consensus.commit import (
    CommitError,
    EvidenceError,
    commit_power,
    verify_commit,
    verify_evidence,
)
from consensus.crypto import ED25519
from consensus.messages import Commit, DuplicateVoteEvidence, Proposal, Vote, VoteType
from consensus.signing import (
    proposal_from_sign_bytes,
    proposal_sign_bytes,
    sign_proposal,
    verify_proposal,
    verify_vote,
    vote_from_sign_bytes,
    vote_sign_bytes,
)
from tests.consensus.helpers import CHAIN, Validators, block

VALS = Validators(4)
B = block("B")


def test_signatures_from_another_chain_are_rejected() -> None:
    vote = VALS.vote(0, VoteType.PREVOTE, 1, 0, B)
    assert verify_vote(ED25519, CHAIN, vote)
    assert not verify_vote(ED25519, CHAIN + "-other", vote)
    p = VALS.proposal(1, 0, B)
    assert verify_proposal(ED25519, CHAIN, p)
    assert not verify_proposal(ED25519, "another-chain", p)


def test_sign_bytes_are_domain_separated_and_cover_every_field() -> None:
    vote = VALS.vote(0, VoteType.PREVOTE, 1, 0, B)
    as_precommit = attrs.evolve(vote, type=VoteType.PRECOMMIT)
    assert vote_sign_bytes(CHAIN, vote) != vote_sign_bytes(CHAIN, as_precommit)
    assert not verify_vote(ED25519, CHAIN, as_precommit)  # a prevote is not a precommit
    for change in ({"height": 2}, {"round": 1}, {"block_id": None}, {"block_id": block("C")}):
        assert not verify_vote(ED25519, CHAIN, attrs.evolve(vote, **change))
    p = VALS.proposal(1, 1, B, valid_round=0)
    for change in ({"valid_round": -1}, {"block_id": block("C")}, {"round": 2}):
        assert not verify_proposal(ED25519, CHAIN, attrs.evolve(p, **change))
    assert proposal_sign_bytes(CHAIN, p) != vote_sign_bytes(CHAIN, vote)
    assert vote_sign_bytes(CHAIN, vote) == vote_sign_bytes(CHAIN, attrs.evolve(vote, signature=b""))


def test_proposal_rebuilt_from_sign_bytes() -> None:
    p = sign_proposal(VALS.signers[0], CHAIN, Proposal(3, 2, 1, B, b""))
    rebuilt = proposal_from_sign_bytes(CHAIN, proposal_sign_bytes(CHAIN, p), p.signature)
    assert rebuilt == p
    with pytest.raises(ValueError):
        proposal_from_sign_bytes("other", proposal_sign_bytes(CHAIN, p), p.signature)
    with pytest.raises(ValueError):
        vote = VALS.vote(0, VoteType.PREVOTE, 1, 0, B)
        proposal_from_sign_bytes(CHAIN, vote_sign_bytes(CHAIN, vote), vote.signature)


def test_vote_rebuilt_from_sign_bytes() -> None:
    for vote_type in VoteType:
        for value in (B, None):
            vote = VALS.vote(2, vote_type, 3, 1, value)
            raw = vote_sign_bytes(CHAIN, vote)
            assert vote_from_sign_bytes(CHAIN, raw, vote.signature) == vote
    with pytest.raises(ValueError):
        vote_from_sign_bytes("other", vote_sign_bytes(CHAIN, vote), vote.signature)
    p = VALS.proposal(1, 0, B)
    with pytest.raises(ValueError):
        vote_from_sign_bytes(CHAIN, proposal_sign_bytes(CHAIN, p), p.signature)
    with pytest.raises(ValueError):
        vote_from_sign_bytes(CHAIN, b"\xc1", vote.signature)


def _commit(signers: list[int], block_id: bytes = B, height: int = 1, round: int = 0) -> Commit:
    votes = tuple(VALS.vote(i, VoteType.PRECOMMIT, height, round, block_id) for i in signers)
    return Commit(height, round, block_id, votes)


def test_verify_commit_accepts_a_quorum() -> None:
    verify_commit(_commit([0, 1, 2]), VALS.set, CHAIN, B, height=1)
    verify_commit(_commit([0, 1, 2, 3]), VALS.set, CHAIN, B)
    assert commit_power(_commit([0, 1, 2]), VALS.set) == 30


def test_verify_commit_rejections() -> None:
    good = _commit([0, 1, 2])
    outsider = Validators(1, salt=9)
    stranger = outsider.vote(0, VoteType.PRECOMMIT, 1, 0, B)
    prevote = VALS.vote(2, VoteType.PREVOTE, 1, 0, B)
    other_round = VALS.vote(2, VoteType.PRECOMMIT, 1, 1, B)
    cases = {
        "too little power": _commit([0, 1]),
        "duplicate signer": attrs.evolve(
            good, precommits=(*good.precommits[:2], good.precommits[0])
        ),
        "non-member": attrs.evolve(good, precommits=(*good.precommits[:2], stranger)),
        "prevote inside": attrs.evolve(good, precommits=(*good.precommits[:2], prevote)),
        "mixed rounds": attrs.evolve(good, precommits=(*good.precommits[:2], other_round)),
        "bad signature": attrs.evolve(
            good,
            precommits=(
                *good.precommits[:2],
                attrs.evolve(good.precommits[2], signature=b"\0" * 64),
            ),
        ),
        "nil precommits": _commit([0, 1, 2], block_id=None),  # type: ignore[arg-type]
    }
    for name, commit in cases.items():
        with pytest.raises(CommitError):
            verify_commit(commit, VALS.set, CHAIN, B)
            pytest.fail(name)
    with pytest.raises(CommitError, match="another block"):
        verify_commit(good, VALS.set, CHAIN, block("C"))
    with pytest.raises(CommitError, match="height"):
        verify_commit(good, VALS.set, CHAIN, B, height=2)
    with pytest.raises(CommitError, match="signature"):
        verify_commit(good, VALS.set, "other-chain", B)
    with pytest.raises(CommitError):
        verify_commit("junk", VALS.set, CHAIN, B)  # type: ignore[arg-type]


def test_verify_evidence() -> None:
    a = VALS.vote(1, VoteType.PREVOTE, 1, 0, B)
    b = VALS.vote(1, VoteType.PREVOTE, 1, 0, None)
    verify_evidence(DuplicateVoteEvidence(a, b), VALS.set, CHAIN)
    bad = [
        DuplicateVoteEvidence(a, a),
        DuplicateVoteEvidence(a, VALS.vote(2, VoteType.PREVOTE, 1, 0, None)),
        DuplicateVoteEvidence(a, VALS.vote(1, VoteType.PREVOTE, 1, 1, None)),
        DuplicateVoteEvidence(a, VALS.vote(1, VoteType.PRECOMMIT, 1, 0, None)),
        DuplicateVoteEvidence(a, attrs.evolve(b, signature=b"\1" * 64)),
        DuplicateVoteEvidence(a, Vote(7, 1, 0, None, a.validator, b"")),  # type: ignore[arg-type]
    ]
    for evidence in bad:
        with pytest.raises(EvidenceError):
            verify_evidence(evidence, VALS.set, CHAIN)
    with pytest.raises(EvidenceError):
        verify_evidence(DuplicateVoteEvidence(a, b), VALS.set, "other-chain")
