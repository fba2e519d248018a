"""Reference versions of invariant checks, kept in a module pytest does not rewrite, so their
assertion messages are exactly those the production code raised before it was optimised."""

from __future__ import annotations

from consensus.votes import MAX_VALUES_PER_VALIDATOR, VoteSet


def reference_vote_set_check(vote_set: VoteSet) -> None:
    """`VoteSet.check` as it was: the same assertions, in the same order."""
    assert vote_set._power == sum(vote_set._powers.values()), "vote set power != sum of voters"
    assert vote_set._power <= vote_set.total_power, "vote set power exceeds total power"
    expected: dict[bytes | None, int] = {}
    for validator, held in vote_set._votes.items():
        assert 1 <= len(held) <= MAX_VALUES_PER_VALIDATOR, "too many values held"
        assert len({v.block_id for v in held}) == len(held), "a value counted twice"
        for vote in held:
            assert vote.validator == validator and vote.type is vote_set.vote_type
            expected[vote.block_id] = expected.get(vote.block_id, 0) + vote_set._powers[validator]
    actual = {k: p for k, p in vote_set._power_by_value.items() if p}
    assert actual == expected, "tally per value inconsistent with the votes held"
    for value, power in actual.items():
        assert power <= vote_set._power, f"more power for {value!r} than distinct voters"
