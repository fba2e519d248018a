"""The adversaries of `sim.byzantine` one by one, on hand-made effects: what each sends, that a
correct replica's checks refuse it, and that the planted mutant it exists for would take it.
Also: the default swarm draws every strategy."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from consensus import codec
from consensus.commit import CommitError, verify_commit
from consensus.core import ConsensusCore
from consensus.events import InputRejected, ProposalReceived, RejectCode
from consensus.interfaces import HeightRecord
from consensus.messages import Commit, Proposal, Vote, VoteType
from consensus.proposer import proposer
from consensus.replica import inbound
from consensus.replica.events import BroadcastPayload, CommitBlock, ReplicaEffect, SendTo
from consensus.replica.wire import CommittedBlock, ProposalMsg, VoteMsg, decode_wire, encode_wire
from consensus.signing import sign_proposal, sign_vote, verify_proposal, verify_vote
from sim.byzantine import STRATEGY_CLASSES, make_strategy
from sim.catch import Runner, first_catch
from sim.config import STRATEGIES
from sim.planted import BY_NAME
from sim.replays import SISTER_CHAIN_ID
from sim.result import Outcome, RunResult, RunSpec
from sim.runner import Simulation
from sim.stack import World, build_world
from sim.strategy import Strategy
from sim.swarm import derive_config
from tests.sim.test_planted_bugs import caught_as_expected

BLOCK = b"the block bytes: strategies never decode them"
X, Y = b"\x01" * 32, b"\x02" * 32


class Always(random.Random):
    """A generator whose every coin comes up "do it" (random() is 0), for deterministic tests."""

    def random(self) -> float:
        return 0.0


def _world(powers: tuple[int, ...] = (10, 10, 10, 10)) -> World:
    overrides = {"validators": len(powers), "byzantine": (), "twins": (), "powers": powers}
    return build_world(derive_config(1, overrides), random.Random(1))


def _strategy(
    world: World, name: str, index: int = 0, rng: random.Random | None = None
) -> Strategy:
    signer = world.signers[index]
    peers = tuple(sorted(s.public_key for s in world.signers if s is not signer))
    return make_strategy(name, signer, world.chain_id, peers, rng or Always(0), world)


def _proposal(world: World, index: int, h: int, r: int, vr: int = -1) -> BroadcastPayload:
    signer = world.signers[index]
    p = sign_proposal(signer, world.chain_id, Proposal(h, r, vr, X, signer.public_key))
    return BroadcastPayload(encode_wire(ProposalMsg(p, BLOCK)))


def _proposals(effects: list[ReplicaEffect]) -> list[Proposal]:
    out = []
    for effect in effects:
        if isinstance(effect, SendTo | BroadcastPayload):
            msg = decode_wire(effect.payload)
            if isinstance(msg, ProposalMsg):
                assert msg.block == BLOCK
                out.append(msg.proposal)
    return out


def _turns(world: World, index: int, h: int) -> list[int]:
    key = world.signers[index].public_key
    return [r for r in range(8) if proposer(world.validators, h, r) == key]


# ---------------------------------------------------------------- lie_vr


def test_the_liar_names_a_valid_round_other_than_the_honest_one() -> None:
    world = _world()
    liar = _strategy(world, "lie_vr")
    out = _proposals(liar.outgoing([_proposal(world, 0, 5, 3)]))
    assert [(p.height, p.round) for p in out] == [(5, 3)]
    assert 0 <= out[0].valid_round < 3  # a made-up polka round; honestly it was -1
    assert verify_proposal(world.scheme, world.chain_id, out[0])  # signed, by itself
    # The same proposal sent again (a peer reconnects) carries the same lie, never a second one.
    again = _proposals(liar.outgoing([_proposal(world, 0, 5, 3)]))
    assert again == out
    # At round 1 an honest vr = 0 is the only earlier round: nothing to lie about.
    assert _proposals(liar.outgoing([_proposal(world, 0, 6, 1, vr=0)]))[0].valid_round == 0


def test_the_liar_withholds_round_0_when_its_next_turn_is_close_and_lies_there() -> None:
    world = _world((40, 10, 10, 10))  # v0 proposes often enough to hold two of three rounds
    h = next(h for h in range(1, 50) if _turns(world, 0, h)[:2] in ([0, 1], [0, 2]))
    liar = _strategy(world, "lie_vr")
    out = _proposals(liar.outgoing([_proposal(world, 0, h, 0)]))
    next_turn = _turns(world, 0, h)[1]
    assert (h, 0) not in [(p.height, p.round) for p in out]  # round 0 gets no proposal
    lie = next(p for p in out if p.round == next_turn)
    assert (
        0 <= lie.valid_round < next_turn
        and proposer(world.validators, h, next_turn) == lie.proposer
    )
    # Our round-0 proposal stays unsent, even in an answer to a peer asking for the round.
    answer = _proposal(world, 0, h, 0)
    assert liar.outgoing([SendTo(world.signers[1].public_key, answer.payload)]) == []


# ---------------------------------------------------------------- usurp


def test_the_usurper_proposes_for_rounds_that_are_not_its_own() -> None:
    world = _world()
    usurper = _strategy(world, "usurp")
    h = next(h for h in range(1, 50) if _turns(world, 0, h)[:1] == [0])
    out = _proposals(usurper.outgoing([_proposal(world, 0, h, 0)]))
    assert [p.round for p in out] == [1, 2]
    for p in out:
        assert p.proposer == world.signers[0].public_key != proposer(world.validators, h, p.round)
        assert verify_proposal(world.scheme, world.chain_id, p)
    # A correct core refuses them; with the planted mutant, the first one to arrive holds round 1.
    assert _admit(world, out[0]) == [RejectCode.WRONG_PROPOSER]
    with BY_NAME["proposer_unchecked"].plant():
        assert _admit(world, out[0]) == []


def _admit(world: World, p: Proposal) -> list[RejectCode]:
    """The codes an observing core at `p`'s height rejects `p` with (none: it holds it)."""
    core = ConsensusCore(
        chain_id=world.chain_id, validators=world.validators, signer=None, scheme=world.scheme
    )
    core.start_height(p.height, 0)
    codes = [e.code for e in core.handle(ProposalReceived(p), 0) if isinstance(e, InputRejected)]
    assert (core.proposal(p.round) == p) == (not codes)
    return codes


# ---------------------------------------------------------------- forge


def _commit(world: World, h: int, block_id: bytes, signers: range) -> Commit:
    votes = tuple(
        sign_vote(s, world.chain_id, Vote(VoteType.PRECOMMIT, h, 0, block_id, s.public_key))
        for s in (world.signers[i] for i in signers)
    )
    return Commit(h, 0, block_id, votes)


def _committed(world: World, h: int, block_id: bytes) -> CommitBlock:
    commit = _commit(world, h, block_id, range(1, 4))
    record = HeightRecord(h, BLOCK, codec.encode_commit(commit), b"app", {}, {})
    return CommitBlock(record, block_id, ())


def _forged(effects: list[ReplicaEffect]) -> list[Commit]:
    out = []
    for effect in effects:
        if isinstance(effect, BroadcastPayload):
            msg = decode_wire(effect.payload)
            assert isinstance(msg, CommittedBlock) and msg.block == BLOCK
            out.append(codec.decode_commit(msg.commit))
    return out


def _refusal(world: World, commit: Commit, block_id: bytes, h: int) -> str:
    with pytest.raises(CommitError) as info:
        verify_commit(commit, world.validators, world.chain_id, block_id, world.scheme, h)
    return str(info.value)


def test_the_forger_offers_each_block_it_commits_with_three_bad_certificates() -> None:
    world = _world()
    forger = _strategy(world, "forge", index=0)
    forger.outgoing([_committed(world, 1, X)])
    effects = forger.outgoing([_committed(world, 2, Y)])
    assert isinstance(effects[0], CommitBlock)  # committed first, as the replica asked
    short, other, bad = _forged(effects)
    assert "not more than 2/3" in _refusal(world, short, Y, 2)
    assert "another block" in _refusal(world, other, Y, 2)
    assert "signature" in _refusal(world, bad, Y, 2)
    # What each planted catch-up mutant takes (the production check is the one above).
    power_blind = BY_NAME["catchup_ignores_power"]
    block_blind = BY_NAME["catchup_ignores_block"]
    args = (world.validators, world.chain_id, Y, world.scheme, 2)
    with power_blind.plant():
        inbound.verify_commit(short, *args)
    with block_blind.plant():
        inbound.verify_commit(other, *args)
    assert inbound.verify_commit is verify_commit  # the patches are gone


def test_the_forger_offers_its_proposal_as_final_and_forges_its_catch_up_answers() -> None:
    world = _world()
    forger = _strategy(world, "forge", index=0)
    forger.outgoing([_committed(world, 3, Y)])
    offered = _forged(forger.outgoing([_proposal(world, 0, 4, 0)])[1:])
    assert all(c.block_id == X and c.height == 4 for c in offered[:1])
    assert "not more than 2/3" in _refusal(world, offered[0], X, 4)
    # Another validator's proposal, as it reaches the forger, goes out "committed" as well.
    forger.incoming(_proposal(world, 1, 4, 1).payload)
    short, other, bad = _forged(forger.outgoing([]))
    assert (short.height, short.round, short.block_id) == (4, 1, X)
    assert "not more than 2/3" in _refusal(world, short, X, 4)
    assert other.height == 3 and "another block" in _refusal(world, other, X, 4)
    assert "signature" in _refusal(world, bad, X, 4)
    forger.incoming(_proposal(world, 1, 4, 1).payload)
    assert forger.outgoing([]) == []  # once per round
    peer = world.signers[2].public_key
    real = CommittedBlock(BLOCK, codec.encode_commit(_commit(world, 3, Y, range(4))))
    [answer] = forger.outgoing([SendTo(peer, encode_wire(real))])
    assert isinstance(answer, SendTo) and answer.peer == peer
    served = decode_wire(answer.payload)
    assert isinstance(served, CommittedBlock) and served.commit != real.commit


# ---------------------------------------------------------------- cross_chain


def _votes(effects: list[ReplicaEffect]) -> list[Vote]:
    out = []
    for effect in effects:
        if isinstance(effect, SendTo | BroadcastPayload):
            msg = decode_wire(effect.payload)
            if isinstance(msg, VoteMsg):
                out.append(msg.vote)
    return out


def test_cross_chain_votes_verify_on_the_sister_chain_unless_sign_bytes_lack_the_chain() -> None:
    world = _world()
    replayer = _strategy(world, "cross_chain", index=0)
    me = world.signers[0]
    vote = sign_vote(me, world.chain_id, Vote(VoteType.PREVOTE, 7, 1, X, me.public_key))
    out = replayer.outgoing([BroadcastPayload(encode_wire(VoteMsg(vote)))])
    foreign = _votes(out[1:])
    others = {s.public_key for s in world.signers[1:]}
    assert {v.validator for v in foreign} == {*others, me.public_key}  # ours re-signed too
    for v in foreign:
        assert (v.height, v.round, v.type) == (7, 1, VoteType.PREVOTE)
        assert (v.block_id == X) == (v.validator == me.public_key)  # theirs: the sister block
        assert not verify_vote(world.scheme, world.chain_id, v)
        assert verify_vote(world.scheme, SISTER_CHAIN_ID, v)
    with BY_NAME["chain_id_not_signed"].plant():
        sister = make_strategy(
            "cross_chain", me, world.chain_id, tuple(sorted(others)), Always(0), world
        )
        out = sister.outgoing([BroadcastPayload(encode_wire(VoteMsg(vote)))])
        late = _votes(out[1:])
        assert any(v.validator in others for v in late)
        assert all(verify_vote(world.scheme, world.chain_id, v) for v in late)
    assert all(not verify_vote(world.scheme, world.chain_id, v) for v in late)


# ---------------------------------------------------------------- replay


def test_the_replayer_resends_old_heights_verbatim_while_voting() -> None:
    world = _world()
    replayer = _strategy(world, "replay", index=0)
    commit = _commit(world, 3, Y, range(1, 4))
    kept = {encode_wire(VoteMsg(v)) for v in commit.precommits}
    record = HeightRecord(3, BLOCK, codec.encode_commit(commit), b"app", {}, {})
    replayer.outgoing([CommitBlock(record, Y, ())])
    me = world.signers[0]
    vote = sign_vote(me, world.chain_id, Vote(VoteType.PREVOTE, 4, 0, X, me.public_key))
    out = replayer.outgoing([BroadcastPayload(encode_wire(VoteMsg(vote)))])
    old = [e.payload for e in out[1:] if isinstance(e, BroadcastPayload)]
    assert old and set(old) <= kept  # byte for byte what was signed at height 3


# ---------------------------------------------------------------- the swarm


def test_the_default_swarm_draws_every_strategy() -> None:
    assert tuple(STRATEGY_CLASSES) == STRATEGIES
    seeds = 1000
    drawn: Counter[str] = Counter()
    for seed in range(seeds):
        drawn.update({name for _, name in derive_config(seed).byzantine})
    for name in STRATEGIES:
        assert 0.03 <= drawn[name] / seeds <= 0.2, (name, drawn[name])


# ---------------------------------------------------------------- whole runs

EXPOSES: dict[str, tuple[str, ...]] = {
    "lie_vr": ("line28_without_polka", "line28_polka_any_value"),
    "usurp": ("proposer_unchecked",),
    "forge": ("catchup_ignores_power", "catchup_ignores_block"),
    "cross_chain": ("chain_id_not_signed",),
    "replay": ("previous_height_admitted",),
}
SEED = 14  # a small run the clean network must withstand, whichever adversary it holds
SEEDS = range(60)
"""The bound for exposing each planted bug: the lying proposer needs a failed round at its own
turn, which few small runs give it (1 in 30 seeds at the time of writing)."""
SMALL: dict[str, object] = {
    "validators": 4,
    "safety_ms": 3000,
    "twins": (),
    "power_profile": "below_third",  # the adversary holds just under 1/3 of the power
}


def _small(name: str) -> Runner:
    def run(seed: int, bugs: tuple[str, ...]) -> RunResult:
        overrides: dict[str, object] = {**SMALL, "byzantine": ((0, name),)}
        return Simulation(RunSpec(seed, {**overrides, "bugs": bugs} if bugs else overrides)).run()

    return run


@pytest.mark.parametrize("name", sorted(EXPOSES))
def test_a_correct_network_withstands_each_adversary_which_exposes_its_planted_bugs(
    name: str,
) -> None:
    run = _small(name)
    clean = run(SEED, ())
    assert clean.outcome is Outcome.PASS, clean.summary_line()
    assert clean.faults.get("byzantine messages", 0) > 0
    for bug in EXPOSES[name]:
        assert BY_NAME[bug].summary.startswith(f"{name}:")
        catch = first_catch(bug, SEEDS, run=run, accept=caught_as_expected(bug))
        assert catch is not None, f"{bug}: no small run of seeds {SEEDS} exposes it"
