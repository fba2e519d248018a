"""Agreement and termination of whole networks of cores, with hypothesis as the adversary.

4 and 7 validators (f = 1 and 2) wired in memory. Hypothesis picks which queued message is
delivered next, drops and duplicates messages, fires any pending timeout early, and drives up to
f Byzantine validators that sign conflicting proposals and votes (real signatures, real keys) and
send them to chosen victims. Every core's invariants and the persist-before-send order are
checked after every step (`Net.apply`).

Safety: no two correct validators ever decide different values at a height.
Termination: with no faults and every message eventually delivered, after the chaos phase
("GST") timeouts fire in deadline order and every validator decides.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus import events as ev
from consensus.messages import Proposal, VoteType
from consensus.signing import sign_proposal
from tests.consensus.helpers import Net, Validators, block

SETS = {4: Validators(4), 7: Validators(7)}
EVIL = [block("evil-x"), block("evil-y")]
SOAK = 20 if os.environ.get("DEPOSITNET_SOAK") == "1" else 1
"""DEPOSITNET_SOAK=1 runs 20 times the examples (the long form of these slow tests)."""
ACTIONS = ["deliver"] * 6 + ["timeout", "drop", "duplicate", "byzantine", "byzantine"]


def honest_value(i: int, height: int, round: int) -> bytes:
    return block(f"{height}/{round}/{i}")


def byzantine_message(
    data: st.DataObject, vals: Validators, byz: list[int], net: Net
) -> tuple[int, ev.Event]:
    """A conflicting message from a Byzantine validator, aimed at one correct validator."""
    b = data.draw(st.sampled_from(byz))
    target = data.draw(st.sampled_from(sorted(net.cores)))
    round_ = net.cores[target].round + data.draw(st.integers(-1, 1))
    round_ = max(round_, 0)
    proposer = vals.proposer_index(1, round_)
    value = data.draw(
        st.sampled_from([*EVIL, None, honest_value(proposer, 1, round_)]), label="value"
    )
    if proposer == b and value is not None and data.draw(st.booleans()):
        vr = data.draw(st.integers(-1, round_ - 1))
        p = sign_proposal(vals.signers[b], "depositnet-test", Proposal(1, round_, vr, value, b""))
        return target, ev.ProposalReceived(p)
    vote_type = data.draw(st.sampled_from(VoteType))
    return target, ev.VoteReceived(vals.vote(b, vote_type, 1, round_, value))


def chaos(data: st.DataObject, net: Net, byz: list[int], faults: bool, steps: int) -> None:
    vals = net.vals
    for _ in range(steps):
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        if action == "byzantine" and byz:
            net.queue.append(byzantine_message(data, vals, byz, net))
        elif action == "timeout" and net.pending_timeouts:
            i = data.draw(st.integers(0, len(net.pending_timeouts) - 1))
            who, t = net.pending_timeouts.pop(i)
            net.now_ms = max(net.now_ms, t.deadline_ms)
            event = ev.TimeoutElapsed(t.height, t.round, t.step)
            net.apply(who, net.cores[who].handle(event, net.now_ms))
        elif net.queue:
            i = data.draw(st.integers(0, len(net.queue) - 1))
            if faults and action == "drop":
                net.queue.pop(i)
            elif faults and action == "duplicate":
                net.queue.append(net.queue[i])
            else:
                net.step(i)


def heal(net: Net, max_timeouts: int) -> None:
    """After GST: deliver everything, fire timeouts in deadline order, until all decided."""
    for _ in range(max_timeouts):
        net.run()
        if all(1 in d for d in net.decisions.values()):
            return
        if not net.fire_next_timeout():
            return


def agreement(net: Net) -> set[bytes]:
    decided = {d[1] for d in net.decisions.values() if 1 in d}
    assert len(decided) <= 1, f"agreement violated: {decided}"
    return decided


@pytest.mark.slow
@pytest.mark.parametrize("n, examples", [(4, 40), (7, 15)])
def test_safety_with_byzantine_equivocators_and_a_hostile_network(n: int, examples: int) -> None:
    f = (n - 1) // 3

    @settings(max_examples=examples * SOAK, suppress_health_check=[HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        vals = SETS[n]
        byz = data.draw(st.lists(st.integers(0, n - 1), max_size=f, unique=True), label="byz")
        net = Net(vals, [i for i in range(n) if i not in byz])
        net.value = honest_value
        net.start(1)
        chaos(data, net, byz, faults=True, steps=data.draw(st.integers(0, 150)))
        heal(net, max_timeouts=30)
        agreement(net)
        for i, core in net.cores.items():
            for evidence in core.evidence():  # evidence only ever names a Byzantine validator
                culprit = [s.public_key for s in vals.signers].index(evidence.vote_a.validator)
                assert culprit in byz, (i, culprit)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("n, examples", [(4, 30), (7, 10)])
def test_termination_without_faults(n: int, examples: int) -> None:
    @settings(max_examples=examples * SOAK, suppress_health_check=[HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        net = Net(SETS[n], list(range(n)))
        net.value = honest_value
        net.start(1)
        chaos(data, net, [], faults=False, steps=data.draw(st.integers(0, 150)))
        heal(net, max_timeouts=40 * n)
        assert all(1 in d for d in net.decisions.values()), net.decisions
        assert len(agreement(net)) == 1

    run()
