"""The checkers on hand-made messages: each property fails exactly when it should."""

from __future__ import annotations

import random

import pytest

from consensus.codec import encode_commit, encode_sign_state
from consensus.interfaces import HeightRecord
from consensus.messages import (
    Commit,
    Proposal,
    SignedRecord,
    SignState,
    Step,
    Validator,
    ValidatorSet,
    Vote,
    VoteType,
)
from consensus.proposer import proposer
from consensus.replica.events import CommitBlock
from consensus.signing import proposal_sign_bytes, sign_proposal, sign_vote
from sim.accountability import judge
from sim.checkers import SafetyChecker, Violation
from sim.fastsig import FastScheme, FastSigner
from sim.result import Outcome
from sim.votes_seen import VoteRecord

CHAIN = "test-chain"
X, Y = b"\x01" * 32, b"\x02" * 32
World = tuple[list[FastSigner], ValidatorSet, FastScheme]


@pytest.fixture
def world() -> tuple[list[FastSigner], ValidatorSet, FastScheme]:
    scheme = FastScheme()
    rng = random.Random(4)
    signers = [scheme.new_signer(rng) for _ in range(4)]
    validators = ValidatorSet(
        tuple(sorted((Validator(s.public_key, 10) for s in signers), key=lambda v: v.public_key))
    )
    return signers, validators, scheme


def _vote(signer: FastSigner, kind: VoteType, h: int, r: int, block: bytes | None) -> Vote:
    return sign_vote(signer, CHAIN, Vote(kind, h, r, block, signer.public_key))


def _persisted(h: int, r: int, step: Step) -> bytes:
    record = SignedRecord(h, r, step, b"sign bytes", b"s" * 64)
    return encode_sign_state(SignState(h, r, step, last_signed=record))


def _proposed(checker: SafetyChecker, world: World, h: int, r: int, block: bytes) -> None:
    """proposer(h, r) proposes `block` (vr = -1): the reason a correct validator may vote it."""
    signers, validators, _ = world
    turn = next(s for s in signers if s.public_key == proposer(validators, h, r))
    checker.on_proposal_sent(sign_proposal(turn, CHAIN, Proposal(h, r, -1, block, turn.public_key)))


def _checker(world: World, strict: bool = True) -> tuple[SafetyChecker, VoteRecord]:
    _signers, validators, scheme = world
    record = VoteRecord(CHAIN, validators, scheme)
    return SafetyChecker(record, validators, {}, strict), record


def test_a_correct_validator_signing_twice_at_one_step_is_a_violation(world: World) -> None:
    checker, _ = _checker(world)
    signer = world[0][0]
    checker.on_persist(0, _persisted(1, 0, Step.PREVOTE))
    _proposed(checker, world, 1, 0, X)
    checker.on_own_message(0, signer.public_key, _vote(signer, VoteType.PREVOTE, 1, 0, X))
    checker.on_own_message(0, signer.public_key, _vote(signer, VoteType.PREVOTE, 1, 0, X))
    with pytest.raises(Violation, match="double sign") as info:
        checker.on_own_message(0, signer.public_key, _vote(signer, VoteType.PREVOTE, 1, 0, Y))
    assert info.value.outcome is Outcome.SAFETY


def test_a_signature_sent_before_its_sign_state_is_persisted_is_a_violation(world: World) -> None:
    checker, _ = _checker(world)
    signer = world[0][0]
    checker.on_persist(0, _persisted(1, 0, Step.PREVOTE))
    with pytest.raises(Violation, match="before persisting"):
        checker.on_own_message(0, signer.public_key, _vote(signer, VoteType.PRECOMMIT, 1, 0, X))


def test_prevoting_against_the_lock_needs_a_polka(world: World) -> None:
    checker, record = _checker(world)
    signers = world[0]
    me = signers[0]
    checker.on_persist(0, _persisted(1, 5, Step.PRECOMMIT))
    _proposed(checker, world, 1, 0, X)
    for s in signers[:3]:
        record.add(_vote(s, VoteType.PREVOTE, 1, 0, X))
    locked = _vote(me, VoteType.PRECOMMIT, 1, 0, X)
    record.add(locked)
    checker.on_own_message(0, me.public_key, locked)
    # A polka for Y in round 1 (3 of 4 equal powers) justifies prevoting Y in round 2 ...
    for s in signers[1:]:
        record.add(_vote(s, VoteType.PREVOTE, 1, 1, Y))
    _proposed(checker, world, 1, 2, Y)
    checker.on_own_message(0, me.public_key, _vote(me, VoteType.PREVOTE, 1, 2, Y))
    # ... but nothing justifies prevoting a third value in round 3 (however proposed).
    z = b"\x03" * 32
    _proposed(checker, world, 1, 3, z)
    with pytest.raises(Violation, match="lock violated"):
        checker.on_own_message(0, me.public_key, _vote(me, VoteType.PREVOTE, 1, 3, z))


def test_proposing_out_of_turn_is_a_violation(world: World) -> None:
    checker, _ = _checker(world)
    signers, validators, _ = world
    turn = proposer(validators, 1, 0)
    other = next(s for s in signers if s.public_key != turn)
    checker.on_persist(0, _persisted(1, 0, Step.PROPOSE))
    proposal = sign_proposal(other, CHAIN, Proposal(1, 0, -1, X, other.public_key))
    with pytest.raises(Violation, match="out of turn"):
        checker.on_own_message(0, other.public_key, proposal)


def _commit_effect(precommits: list[Vote], block: bytes, h: int = 1) -> CommitBlock:
    commit = Commit(h, 0, block, tuple(precommits))
    record = HeightRecord(h, b"block", encode_commit(commit), b"app", {}, {})
    return CommitBlock(record, block, ())


def test_certificates_count_distinct_validators_not_votes(world: World) -> None:
    checker, _ = _checker(world)
    signers = world[0]
    one = _vote(signers[0], VoteType.PRECOMMIT, 1, 0, X)
    with pytest.raises(Violation, match="not more than 2/3"):
        checker.on_commit(0, _commit_effect([one, one, one], X))
    good = [_vote(s, VoteType.PRECOMMIT, 1, 0, X) for s in signers[:3]]
    checker.on_commit(1, _commit_effect(good, X))
    forged = [*good[:2], Vote(VoteType.PRECOMMIT, 1, 0, X, signers[3].public_key, b"\x00" * 64)]
    with pytest.raises(Violation, match="invalid precommit"):
        checker.on_commit(2, _commit_effect(forged, X))


def test_a_fork_fails_within_the_budget_and_is_recorded_beyond_it(world: World) -> None:
    signers = world[0]
    for_x = [_vote(s, VoteType.PRECOMMIT, 1, 0, X) for s in signers[:3]]
    for_y = [_vote(s, VoteType.PRECOMMIT, 1, 0, Y) for s in signers[1:]]
    strict, _ = _checker(world, strict=True)
    strict.on_commit(0, _commit_effect(for_x, X))
    with pytest.raises(Violation, match="agreement"):
        strict.on_commit(1, _commit_effect(for_y, Y))
    lenient, _ = _checker(world, strict=False)
    lenient.on_commit(0, _commit_effect(for_x, X))
    lenient.on_commit(1, _commit_effect(for_y, Y))
    assert [h for h, _ in lenient.forks] == [1]
    with pytest.raises(Violation, match="integrity"):
        lenient.on_commit(1, _commit_effect(for_y, Y, h=3))


def test_accountability_convicts_equivocators_and_amnesiacs_and_never_the_correct(
    world: World,
) -> None:
    signers, validators, scheme = world
    keys = [s.public_key for s in signers]
    names = {k: f"v{i}" for i, k in enumerate(keys)}
    evidence = VoteRecord(CHAIN, validators, scheme)
    # v0 equivocates; v1 shows amnesia (precommit X in round 0, prevote Y in round 1, no polka).
    evidence.add(_vote(signers[0], VoteType.PREVOTE, 1, 0, X))
    evidence.add(_vote(signers[0], VoteType.PREVOTE, 1, 0, Y))
    evidence.add(_vote(signers[1], VoteType.PRECOMMIT, 1, 0, X))
    evidence.add(_vote(signers[1], VoteType.PREVOTE, 1, 1, Y))
    # A forged "vote" of v2 with a bad signature is never evidence.
    evidence.add(Vote(VoteType.PREVOTE, 1, 0, Y, keys[2], b"\x00" * 64))
    evidence.add(_vote(signers[2], VoteType.PREVOTE, 1, 0, X))
    correct = frozenset(keys[2:])
    verdict = judge(evidence, correct, names, forked=True)
    assert verdict.ok, verdict.reason
    assert verdict.convicted_power == 20
    assert [c.split(":")[0] for c in verdict.convicted] == sorted(
        ["v0", "v1"], key=lambda n: keys[int(n[1])]
    )
    # Convicting only v0 (1/4 of the power) does not explain a fork.
    only = VoteRecord(CHAIN, validators, scheme)
    only.add(_vote(signers[0], VoteType.PREVOTE, 1, 0, X))
    only.add(_vote(signers[0], VoteType.PREVOTE, 1, 0, Y))
    assert not judge(only, correct, names, forked=True).ok
    assert judge(only, correct, names, forked=False).ok
    # Evidence against a correct validator is framing, forked or not.
    framed = judge(only, frozenset(keys[:1]), names, forked=False)
    assert not framed.ok and "v0" in framed.reason


def test_a_correct_vote_needs_a_proposal_from_the_rounds_proposer(world: World) -> None:
    checker, _ = _checker(world)
    signers, validators, _ = world
    me = signers[0]
    checker.on_persist(0, _persisted(1, 1, Step.PREVOTE))
    checker.on_own_message(0, me.public_key, _vote(me, VoteType.PREVOTE, 1, 0, None))  # nil: free
    with pytest.raises(Violation, match=r"proposer\(1, 1\) never proposed"):
        checker.on_own_message(0, me.public_key, _vote(me, VoteType.PREVOTE, 1, 1, X))
    # A proposal for X from a validator whose turn it is not is no reason either ...
    usurper = next(s for s in signers if s.public_key != proposer(validators, 1, 1))
    checker.on_proposal_sent(
        sign_proposal(usurper, CHAIN, Proposal(1, 1, -1, X, usurper.public_key))
    )
    with pytest.raises(Violation, match="never proposed"):
        checker.on_own_message(0, me.public_key, _vote(me, VoteType.PREVOTE, 1, 1, X))
    # ... nor is one with a forged signature; the rightful proposer's is.
    turn = next(s for s in signers if s.public_key == proposer(validators, 1, 1))
    checker.on_proposal_sent(Proposal(1, 1, -1, X, turn.public_key, b"\x00" * 64))
    with pytest.raises(Violation, match="never proposed"):
        checker.on_own_message(0, me.public_key, _vote(me, VoteType.PREVOTE, 1, 1, X))
    _proposed(checker, world, 1, 1, X)
    checker.on_own_message(0, me.public_key, _vote(me, VoteType.PREVOTE, 1, 1, X))


def test_a_valid_round_is_a_reason_only_with_its_polka(world: World) -> None:
    checker, record = _checker(world)
    signers, validators, _ = world
    me = signers[0]
    turn = next(s for s in signers if s.public_key == proposer(validators, 1, 2))
    checker.on_proposal_sent(sign_proposal(turn, CHAIN, Proposal(1, 2, 1, X, turn.public_key)))
    checker.on_persist(0, _persisted(1, 2, Step.PRECOMMIT))
    # 2f+1 prevotes in round 1, but for nil (any value, not X), and X's polka in round 0:
    for s in signers[:3]:
        record.add(_vote(s, VoteType.PREVOTE, 1, 1, None))
        record.add(_vote(s, VoteType.PREVOTE, 1, 0, X))
    with pytest.raises(Violation, match="valid round 1 but no polka for it there"):
        checker.on_own_message(0, me.public_key, _vote(me, VoteType.PREVOTE, 1, 2, X))
    with pytest.raises(Violation, match="no polka for it in round 2"):
        checker.on_own_message(0, me.public_key, _vote(me, VoteType.PRECOMMIT, 1, 2, X))
    for s in signers[1:]:
        record.add(_vote(s, VoteType.PREVOTE, 1, 1, X))  # equivocators' second votes count
    checker.on_own_message(0, me.public_key, _vote(me, VoteType.PREVOTE, 1, 2, X))
    for s in signers[1:]:
        record.add(_vote(s, VoteType.PREVOTE, 1, 2, X))
    checker.on_own_message(0, me.public_key, _vote(me, VoteType.PRECOMMIT, 1, 2, X))


def test_a_proposal_a_correct_validator_signed_is_a_reason_before_it_is_sent(
    world: World,
) -> None:
    """Re-proposing a value whose block was lost waits for the block, but the proposer may
    prevote it at once: its persisted sign state holds the proposal."""
    checker, _ = _checker(world)
    signers, validators, _ = world
    turn = next(s for s in signers if s.public_key == proposer(validators, 1, 0))
    proposal = sign_proposal(turn, CHAIN, Proposal(1, 0, -1, X, turn.public_key))
    signed = SignedRecord(
        1, 0, Step.PROPOSE, proposal_sign_bytes(CHAIN, proposal), proposal.signature
    )
    checker.on_sign_state(0, encode_sign_state(SignState(1, 0, Step.PROPOSE, last_signed=signed)))
    checker.on_persist(0, _persisted(1, 0, Step.PREVOTE))
    checker.on_own_message(0, turn.public_key, _vote(turn, VoteType.PREVOTE, 1, 0, X))
