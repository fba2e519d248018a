"""The effect executor keeps the replica's ordering contract while coalescing sign states."""

from __future__ import annotations

from typing import Any

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.interfaces import HeightRecord
from consensus.messages import Step
from consensus.replica import events as ev
from network.executor import EffectExecutor


class RecordingStore:
    """Logs durable writes in the order they complete."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.log = log

    def save_sign_state(self, data: bytes) -> None:
        self.log.append(("sign", int(data)))

    def save_height(self, record: HeightRecord) -> None:
        self.log.append(("commit", record.height))


def commit_effect(height: int) -> ev.CommitBlock:
    record = HeightRecord(height, b"block", b"commit", b"hash", {}, {})
    return ev.CommitBlock(record, b"id", ())


effect_kinds = st.sampled_from(["sign", "send", "broadcast", "commit", "timer"])


def build(kinds: list[str]) -> list[ev.ReplicaEffect]:
    """Effects numbered by position; sign states carry their position as data."""
    effects: list[ev.ReplicaEffect] = []
    height = 0
    for position, kind in enumerate(kinds):
        if kind == "sign":
            effects.append(ev.PersistSignState(str(position).encode()))
        elif kind == "send":
            effects.append(ev.SendTo(b"peer", str(position).encode()))
        elif kind == "broadcast":
            effects.append(ev.BroadcastPayload(str(position).encode()))
        elif kind == "commit":
            height += 1
            effects.append(commit_effect(height))
        else:
            effects.append(ev.SetTimer(position, ev.ConsensusTimer(1, 0, Step.PROPOSE)))
    return effects


async def run_executor(effects: list[ev.ReplicaEffect], chunks: list[int]) -> list[tuple[str, Any]]:
    log: list[tuple[str, Any]] = []
    executor = EffectExecutor(
        RecordingStore(log),  # type: ignore[arg-type]
        send=lambda peer, payload: log.append(("send", int(payload))),
        broadcast=lambda payload: log.append(("send", int(payload))),
        arm_timer=lambda deadline, timer: log.append(("timer", deadline)),
        committed=lambda effect, seconds: None,
        other=lambda effect: log.append(("other", effect)),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(executor.run)
        position = 0
        for size in chunks:
            executor.submit(effects[position : position + size])
            position += size
            await trio.sleep(0)
        executor.submit(effects[position:])
        await executor.wait_idle()
        nursery.cancel_scope.cancel()
    return log


@settings(max_examples=150)
@given(
    kinds=st.lists(effect_kinds, max_size=40),
    chunks=st.lists(st.integers(0, 6), max_size=10),
)
def test_sends_wait_for_their_sign_state_and_nothing_crosses_a_commit(
    kinds: list[str], chunks: list[int]
) -> None:
    effects = build(kinds)
    log = trio.run(run_executor, effects, chunks)

    def segment(position: int) -> int:  # block commits before this effect
        return sum(1 for k in kinds[:position] if k == "commit")

    durable_sign = -1
    commits_done = 0
    sent: list[int] = []
    for what, value in log:
        if what == "sign":
            assert value > durable_sign, "sign states are written newest-last"
            assert segment(value) == commits_done, "a sign state crossed a block commit"
            durable_sign = value
        elif what == "commit":
            commits_done += 1
            assert value == commits_done, "block commits in order, each once"
        elif what == "send":
            needed = max((p for p in range(value) if kinds[p] == "sign"), default=-1)
            assert durable_sign >= needed, "a message left before its sign state was durable"
            sent.append(value)
    expected_sent = [p for p, k in enumerate(kinds) if k in ("send", "broadcast")]
    assert sent == expected_sent
    assert commits_done == kinds.count("commit")
    last_sign = max((p for p, k in enumerate(kinds) if k == "sign"), default=-1)
    assert durable_sign == last_sign


def test_sign_states_between_two_commits_are_written_once() -> None:
    kinds = ["sign", "send", "sign", "send", "sign", "send"]
    log = trio.run(run_executor, build(kinds), [])
    assert [entry for entry in log if entry[0] == "sign"] == [("sign", 4)]
    assert [entry for entry in log if entry[0] == "send"] == [("send", 1), ("send", 3), ("send", 5)]
