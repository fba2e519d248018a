"""The planted bugs (`bugs=`) are real bugs, and the default core has none of them.

The simulator later proves its worth by catching these; here each one is shown to break a
scenario test (a mutation check of the scenario suite), and the line-22 lock bug is driven all
the way to two correct validators deciding different values, which the correct core prevents.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

from consensus import events as ev
from consensus.core import KNOWN_BUGS
from consensus.messages import Step, VoteType
from tests.consensus import helpers, test_scenarios
from tests.consensus.helpers import Net, Validators, block

V, W = block("V"), block("W")


def _scenario_failures(bug: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    original = helpers.Validators.core

    def core(self: Validators, index: int | None, **kwargs: object) -> object:
        return original(self, index, bugs=frozenset({bug}), **kwargs)

    monkeypatch.setattr(helpers.Validators, "core", core)
    failed = []
    for name, test in inspect.getmembers(test_scenarios, inspect.isfunction):
        if name.startswith("test_"):
            try:
                test()
            except AssertionError:
                failed.append(name)
    return failed


@pytest.mark.parametrize("bug", sorted(KNOWN_BUGS))
def test_each_planted_bug_breaks_a_scenario(bug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _scenario_failures(bug, monkeypatch) != []


def test_lock_bug_splits_the_network() -> None:
    assert _split_brain(frozenset()) == {0: V}
    assert _split_brain(frozenset({"no_lock_check_line22"})) == {0: V, 2: W}


def _split_brain(bugs: frozenset[str]) -> dict[int, bytes]:
    """Validators 0-2 correct, 3 Byzantine. Round 0: 0 and 1 lock on V and 0 decides V (the
    Byzantine precommit completes its quorum), 2 sees nothing. Round 2: 2 proposes W; a correct
    1 prevotes nil (locked on V, line 22), so W never gets a polka."""
    vals = Validators(4)
    net = Net(vals, [0, 1, 2], bugs=bugs)
    net.value = lambda i, h, r: V if r == 0 else W

    def byz(target: int, vote_type: VoteType, round: int, value: bytes) -> None:
        net.queue.append((target, ev.VoteReceived(vals.vote(3, vote_type, 1, round, value))))

    def to(*targets: int) -> Callable[[int, ev.Event], bool]:
        return lambda t, e: t in targets

    def messages_to(*targets: int) -> Callable[[int, ev.Event], bool]:
        return lambda t, e: t in targets and isinstance(e, ev.ProposalReceived | ev.VoteReceived)

    net.start(1)
    net.deliver(to(0))  # 0 proposes V and prevotes it
    net.deliver(to(1))  # 1 prevotes V
    byz(0, VoteType.PREVOTE, 0, V)
    byz(1, VoteType.PREVOTE, 0, V)
    net.deliver(to(0, 1))  # polka: both lock V and precommit V
    byz(0, VoteType.PRECOMMIT, 0, V)
    net.deliver(to(0))  # 0: precommits of 0, 1, 3 -> decides V
    net.drop(messages_to(0, 1, 2))
    for i in (1, 2):
        for r in (0, 1):
            for step in Step:
                net.timeout(i, 1, r, step)
            net.drop(messages_to(0, 1, 2))
    assert net.cores[1].round == net.cores[2].round == 2
    net.deliver(to(2))  # 2 proposes W (vr = -1) and prevotes it
    net.deliver(to(1))  # 1: nil if it honours its lock, W with the bug
    byz(1, VoteType.PREVOTE, 2, W)
    byz(2, VoteType.PREVOTE, 2, W)
    net.deliver(to(1, 2))
    byz(2, VoteType.PRECOMMIT, 2, W)
    net.deliver(to(2))
    return {i: d[1] for i, d in net.decisions.items() if 1 in d}
