"""Proposer selection, vote sets and thresholds, the sign guard, timeout durations."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.crypto import Ed25519Signer
from consensus.guard import SignGuard
from consensus.messages import Step, Validator, ValidatorSet, Vote, VoteType
from consensus.proposer import proposer
from consensus.timeouts import TimeoutConfig
from consensus.votes import (
    MAX_VALUES_PER_VALIDATOR,
    AddResult,
    VoteSet,
    more_than_one_third,
    more_than_two_thirds,
)


def _set(powers: list[int]) -> ValidatorSet:
    keys = sorted(bytes([i + 1]) * 32 for i in range(len(powers)))
    return ValidatorSet(tuple(Validator(k, p) for k, p in zip(keys, powers, strict=True)))


@given(st.lists(st.integers(1, 50), min_size=1, max_size=7))
def test_proposer_frequencies_are_proportional_to_power(powers: list[int]) -> None:
    vs = _set(powers)
    total = sum(powers)
    windows = 3
    counts = Counter(proposer(vs, h, 0) for h in range(1, windows * total + 1))
    for v in vs.validators:
        assert abs(counts[v.public_key] - windows * v.power) <= 2, (powers, counts)


def test_proposer_is_pure_and_rounds_advance_the_schedule() -> None:
    vs = _set([1, 2, 3, 4])
    first = [proposer(vs, h, r) for h in range(1, 30) for r in range(4)]
    fresh = _set([1, 2, 3, 4])  # an equal set: same answers, whatever was cached
    assert first == [proposer(fresh, h, r) for h in range(1, 30) for r in range(4)]
    assert all(proposer(vs, h, r) == proposer(vs, h + r, 0) for h in range(1, 10) for r in range(5))
    assert proposer(vs, 10**12, 3) in {v.public_key for v in vs.validators}


def test_proposer_ties_go_to_the_lower_key_and_equal_powers_rotate() -> None:
    vs = _set([5, 5, 5])
    keys = [v.public_key for v in vs.validators]
    assert [proposer(vs, h, 0) for h in range(1, 7)] == keys + keys
    with pytest.raises(ValueError):
        proposer(vs, 0, 0)
    with pytest.raises(ValueError):
        proposer(vs, 1, -1)


def test_thresholds_are_strict() -> None:
    assert not more_than_two_thirds(20, 30) and more_than_two_thirds(21, 30)
    assert not more_than_one_third(10, 30) and more_than_one_third(11, 30)
    assert more_than_two_thirds(3, 4) and not more_than_two_thirds(2, 3)


def _vote(key: int, block: bytes | None, round: int = 0) -> Vote:
    return Vote(VoteType.PREVOTE, 1, round, block, bytes([key]) * 32, bytes([key]) * 64)


def test_vote_set_counts_power_once_and_flags_conflicts() -> None:
    vs = VoteSet(VoteType.PREVOTE, total_power=30)
    b = b"\x0b" * 32
    assert vs.add(_vote(1, b), 10) == (AddResult.ADDED, None)
    assert vs.add(_vote(1, b), 10) == (AddResult.DUPLICATE, None)
    assert vs.add(_vote(1, None), 10) == (AddResult.CONFLICT, _vote(1, b))
    assert vs.power == 10 and vs.power_for(b) == 10 and vs.power_for(None) == 10  # per value
    vs.add(_vote(2, None), 10)
    assert not vs.has_quorum_any()  # 20 of 30 is exactly 2/3: not more
    vs.add(_vote(3, b), 10)
    assert vs.has_quorum_any() and not vs.has_quorum_for(b) and vs.quorum_value() == (False, None)
    vs.check()


def test_vote_set_counts_a_validator_once_per_value_with_a_bound_on_values() -> None:
    """An equivocator counts once towards each of at most MAX_VALUES_PER_VALIDATOR values and
    once towards the any-value total; duplicates (also of its second vote) change nothing."""
    assert MAX_VALUES_PER_VALIDATOR == 2
    vs = VoteSet(VoteType.PREVOTE, total_power=30)
    b, c = b"\x0b" * 32, b"\x0c" * 32
    assert vs.add(_vote(1, None), 10) == (AddResult.ADDED, None)
    assert vs.add(_vote(1, b), 10) == (AddResult.CONFLICT, _vote(1, None))
    assert vs.add(_vote(1, b), 10) == (AddResult.DUPLICATE, None)
    assert vs.add(_vote(1, None), 10) == (AddResult.DUPLICATE, None)
    resigned = Vote(VoteType.PREVOTE, 1, 0, b, bytes([1]) * 32, b"\x99" * 64)
    assert vs.add(resigned, 10) == (AddResult.DUPLICATE, None)  # same value: not evidence
    assert vs.add(_vote(1, c), 10) == (AddResult.CONFLICT, _vote(1, None))  # third: dropped
    assert (vs.power, vs.power_for(None), vs.power_for(b), vs.power_for(c)) == (10, 10, 10, 0)
    assert vs.contains(_vote(1, b)) and not vs.contains(_vote(1, c))
    assert not vs.contains(resigned)
    assert vs.votes() == (_vote(1, None), _vote(1, b)) and vs.get(bytes([1]) * 32) == _vote(1, None)
    assert vs.votes_for(b) == (_vote(1, b),)
    vs.add(_vote(2, b), 10)
    assert not vs.has_quorum_for(b)  # 20 of 30
    vs.add(_vote(3, None), 10)
    assert vs.has_quorum_any() and vs.power == 30  # three distinct voters, the equivocator once
    assert vs.has_quorum_for(None) is False and vs.power_for(None) == 20
    vs.add(_vote(3, b), 10)  # validator 3 equivocates too: its vote for b counts
    assert vs.has_quorum_for(b) and vs.quorum_value() == (True, b) and vs.power == 30
    assert [v.validator[0] for v in vs.votes_for(b)] == [1, 2, 3]
    vs.check()


def test_double_count_bug_breaks_the_vote_set_check() -> None:
    vs = VoteSet(VoteType.PREVOTE, total_power=30, double_count=True)
    vs.add(_vote(1, None), 10)
    assert vs.add(_vote(1, None), 10) == (AddResult.DUPLICATE, None)
    assert vs.power == 20 and vs.power_for(None) == 20  # the planted bug double counts
    with pytest.raises(AssertionError):
        vs.check()
    vs = VoteSet(VoteType.PREVOTE, total_power=30, double_count=True)
    vs.add(_vote(1, None), 10)
    vs.add(_vote(1, b"\x0b" * 32), 10)
    vs.add(_vote(1, b"\x0b" * 32), 10)  # a copy of the conflicting vote, counted again
    with pytest.raises(AssertionError):
        vs.check()


def test_sign_guard_never_signs_two_different_messages_at_one_hrs() -> None:
    guard = SignGuard(Ed25519Signer(b"\x07" * 32), None)
    first = guard.sign(1, 0, Step.PREVOTE, b"prevote B")
    assert first is not None
    assert guard.sign(1, 0, Step.PREVOTE, b"prevote B") == first  # same bytes: same signature
    assert guard.sign(1, 0, Step.PREVOTE, b"prevote nil") is None  # conflicting: refused
    assert guard.sign(1, 0, Step.PROPOSE, b"proposal") is None  # lower step: refused
    assert guard.sign(1, 0, Step.PRECOMMIT, b"precommit") is not None
    assert guard.sign(1, 0, Step.PREVOTE, b"prevote B") is None  # regression: refused
    assert guard.sign(0, 5, Step.PRECOMMIT, b"old height") is None
    assert guard.sign(1, 1, Step.PROPOSE, b"next round") is not None


def test_timeouts_grow_linearly_and_validate() -> None:
    t = TimeoutConfig()
    assert [t.duration_ms(Step.PROPOSE, r) for r in range(3)] == [3000, 3500, 4000]
    assert t.duration_ms(Step.PREVOTE, 2) == 2000 and t.duration_ms(Step.PRECOMMIT, 4) == 3000
    for bad in (-1, 1.5, True, 10**12):
        with pytest.raises(ValueError):
            TimeoutConfig(propose_ms=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        t.duration_ms(Step.PROPOSE, -1)
