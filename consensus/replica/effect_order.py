"""The order in which a driver executes the replica's effects: one plan for both drivers.

Why one plan: the trio node (`network/executor.py`) and the simulator (`sim/executor.py`) must
execute effects the same way, or the simulator would judge an order the node never uses. The
plan is a generator, in the coroutine style of Malachite's effect system: it performs the
effects that need no disk through `do`, and yields each durable write (a `PersistSignState` or
a `CommitBlock`). The driver makes that write durable, however long its disk takes and whatever
the replica handles meanwhile, and only then resumes the plan. So nothing after a write runs
before the write is durable: a signature leaves only once the sign state guarding it is on
disk, and nothing of height h+1 leaves before block h is.

Group commit: sign states waiting between two block commits are written once, the newest, at
the position of the first. That is safe because a newer sign state guards every signature an
older one did (the guard refuses anything at or below its (height, round, step) unless
byte-identical) and its lock state is the current one. Sign states are never moved across a
`CommitBlock`: a sign state of height h+1 durable before block h would leave a store that
refuses to restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from consensus.replica import events as ev

DurableWrite = ev.PersistSignState | ev.CommitBlock


def execute_in_order(
    batch: Sequence[ev.ReplicaEffect], do: Callable[[ev.ReplicaEffect], None]
) -> Iterator[DurableWrite]:
    """Run `batch`: `do` every other effect in order, yield each durable write; resume only once
    the yielded write is durable. Sign states are coalesced as the module doc says."""
    start = 0
    while start < len(batch):
        end = next_commit(batch, start)
        states = [e for e in batch[start:end] if isinstance(e, ev.PersistSignState)]
        for effect in batch[start:end]:
            if isinstance(effect, ev.PersistSignState):
                if states:
                    newest, states = states[-1], []
                    yield newest
            else:
                do(effect)
        if end < len(batch):
            commit = batch[end]
            assert isinstance(commit, ev.CommitBlock)
            yield commit
        start = end + 1


def next_commit(batch: Sequence[ev.ReplicaEffect], start: int) -> int:
    """The index of the first `CommitBlock` at or after `start` (len(batch) if none)."""
    for index in range(start, len(batch)):
        if isinstance(batch[index], ev.CommitBlock):
            return index
    return len(batch)


def sign_states(batch: Sequence[ev.ReplicaEffect]) -> int:
    """How many `PersistSignState` effects `batch` holds (before coalescing)."""
    return sum(1 for e in batch if isinstance(e, ev.PersistSignState))
