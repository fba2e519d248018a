"""The multiset app hash: incremental updates in any order equal the digest of the final state."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.apphash import Accumulator

entries = st.dictionaries(st.binary(min_size=1, max_size=6), st.binary(max_size=6), max_size=12)
writes = st.lists(
    st.tuples(st.binary(min_size=1, max_size=6), st.none() | st.binary(max_size=6)), max_size=20
)


@given(entries, writes)
def test_incremental_updates_match_full_recomputation(
    start: dict[bytes, bytes], changes: list[tuple[bytes, bytes | None]]
) -> None:
    state = dict(start)
    acc = Accumulator.of_state(state)
    for key, new in changes:
        acc.update(key, state.get(key), new)
        if new is None:
            state.pop(key, None)
        else:
            state[key] = new
    assert acc.value == Accumulator.of_state(state).value
    assert acc.app_hash(7) == Accumulator.of_state(sorted(state.items())).app_hash(7)


@given(entries, st.randoms(use_true_random=False))
def test_order_does_not_matter(state: dict[bytes, bytes], rnd: object) -> None:
    items = list(state.items())
    rnd.shuffle(items)  # type: ignore[attr-defined]
    acc = Accumulator()
    for key, value in items:
        acc.update(key, None, value)
    assert acc.value == Accumulator.of_state(state).value


def test_distinct_states_and_heights_differ() -> None:
    a = Accumulator.of_state({b"k": b"v1"})
    b = Accumulator.of_state({b"k": b"v2"})
    split = Accumulator.of_state({b"kv": b"1"})  # same concatenation, other split
    joined = Accumulator.of_state({b"k": b"v1"[:1] + b"1"})
    assert a.app_hash(1) != b.app_hash(1)
    assert a.app_hash(1) != a.app_hash(2)
    assert split.value != joined.value
    assert Accumulator().app_hash(0) != a.app_hash(0)
