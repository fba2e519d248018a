"""The simulator's speed-ups, each held to the plain version it replaced: a run must compute
exactly what it computed before (its trace digest is the proof), only sooner."""

from __future__ import annotations

import gc
import hashlib
from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from consensus.crypto import VerifyMemo
from consensus.messages import BlockId, Validator, ValidatorSet, VoteType
from sim.clock import NodeClock
from sim.fastsig import FastScheme
from sim.result import RunSpec
from sim.runner import Simulation, collector_tuned
from sim.trace import FLUSH_LINES, Trace
from sim.votes_seen import VoteKey, VoteRecord

lines = st.tuples(
    st.integers(0, 10**9),
    st.sampled_from(["v0", "v1'", "-"]),
    st.none() | st.integers(0, 10**6),
    st.none() | st.integers(0, 100),
    st.sampled_from(["propose", "prevote", "down", "-"]),
    st.sampled_from(["recv", "timer", "heal"]),
    st.text(max_size=30),
)


def reference_line(t: int, node: str, h: int | None, r: int | None, *rest: str) -> str:
    step, event, detail = rest
    hh = "-" if h is None else str(h)
    rr = "-" if r is None else str(r)
    return f"{t:010d} {node:<5} {hh:>6} {rr:>5} {step:<9} {event:<10} {detail}\n"


@given(st.lists(lines, max_size=3 * FLUSH_LINES // 2))
def test_trace_digest_is_the_hash_of_the_lines_one_by_one(emitted: list[tuple]) -> None:
    trace = Trace()
    reference = hashlib.blake2b(digest_size=16)
    for line in emitted:
        trace.emit(*line)
        reference.update(reference_line(*line).encode())
    assert trace.digest() == reference.hexdigest()
    assert trace.lines == len(emitted)


@given(st.integers(-5000, 5000), st.integers(-(10**6), 10**9))
def test_an_undrifted_clock_maps_back_as_the_search_does(offset_ms: int, local_ms: int) -> None:
    clock = NodeClock(offset_ms, 0)
    found = clock.to_global(local_ms)
    guess = 0 if local_ms - offset_ms < 0 else local_ms - offset_ms
    assert found == guess and clock.local(found) >= local_ms
    assert found == 0 or clock.local(found - 1) < local_ms


def reference_equivocators(record: VoteRecord) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for (key, height, round, vote_type), ids in sorted(
        record.by_voter.items(), key=lambda item: (item[0][0], item[0][1:3], item[0][3])
    ):
        if len(ids) > 1 and key not in found:
            found[key] = f"two {vote_type.name.lower()}s at height {height} round {round}"
    return found


def reference_amnesiacs(record: VoteRecord) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    precommits: dict[tuple[bytes, int], list[tuple[int, BlockId]]] = defaultdict(list)
    for (key, height, round, vote_type), ids in record.by_voter.items():
        if vote_type is VoteType.PRECOMMIT:
            precommits[(key, height)].extend((round, b) for b in ids if b is not None)
    for (key, height, r2, vote_type), ids in sorted(
        record.by_voter.items(), key=lambda item: (item[0][0], item[0][1:3], item[0][3])
    ):
        if vote_type is not VoteType.PREVOTE or key in found:
            continue
        for r1, locked in precommits.get((key, height), ()):
            for later in ids:
                if (
                    r1 < r2
                    and later is not None
                    and later != locked
                    and not record.polka_between(height, r1, r2, later)
                ):
                    found[key] = f"amnesia at height {height}: rounds {r1} -> {r2}"
    return found


KEYS = [bytes([k]) * 32 for k in range(4)]
VALUES = [None, b"a" * 32, b"b" * 32]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(KEYS),
            st.integers(1, 2),
            st.integers(0, 3),
            st.sampled_from(list(VoteType)),
            st.sampled_from(VALUES),
        ),
        max_size=40,
    )
)
def test_accountability_queries_equal_the_full_sorts(
    votes: list[tuple[bytes, int, int, VoteType, BlockId | None]],
) -> None:
    validators = ValidatorSet(tuple(Validator(k, 1) for k in KEYS))
    record = VoteRecord("chain", validators, VerifyMemo(FastScheme()))
    for key, height, round_, vote_type, value in votes:  # as `add` files an authentic vote
        record.by_round[(height, round_, vote_type)][value].add(key)
        slot: VoteKey = (key, height, round_, vote_type)
        if value not in record.by_voter[slot]:
            record.by_voter[slot].append(value)
    assert record.equivocators() == reference_equivocators(record)
    assert list(record.amnesiacs().items()) == list(reference_amnesiacs(record).items())


def test_the_collector_settings_come_back_after_a_run() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with collector_tuned():
        assert gc.get_threshold()[0] == 20_000
        assert frozen > 0 or gc.get_freeze_count() > 0
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, frozen)


def test_a_seed_replays_bit_for_bit_through_the_memos() -> None:
    """Two runs of one seed in one process: the second finds nothing of the first's memos
    (decoded bytes, verdicts, block ids are per run or by identity) and ends the same."""
    spec = RunSpec(5, {"safety_ms": 4000, "liveness_ms": 4000})
    first, second = Simulation(spec).run(), Simulation(spec).run()
    assert first.digest == second.digest and first.events == second.events
