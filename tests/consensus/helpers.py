"""Test helpers for the consensus core: deterministic keys, signed messages, an in-memory network.

`Validators` builds a validator set from fixed seeds. `Net` wires several cores together in
memory: it delivers broadcasts (optionally through a `deliver` hook that may reorder, drop or
duplicate), answers the core's requests (proposal values and validity), records persisted sign
states and decisions, and fires timeouts when asked to, never by a wall clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from consensus import codec
from consensus import events as ev
from consensus.core import ConsensusCore
from consensus.crypto import Ed25519Signer
from consensus.messages import (
    BlockId,
    Proposal,
    Step,
    Validator,
    ValidatorSet,
    Vote,
    VoteType,
)
from consensus.proposer import proposer
from consensus.signing import sign_proposal, sign_vote
from consensus.timeouts import TimeoutConfig

CHAIN = "depositnet-test"
TIMEOUTS = TimeoutConfig(100, 10, 100, 10, 100, 10)


def block(name: str) -> BlockId:
    """A deterministic 32-byte block id."""
    return hashlib.sha256(name.encode()).digest()


class Validators:
    """n validators with fixed keys; `signers` ordered like `set.validators` (by public key)."""

    def __init__(self, n: int, powers: list[int] | None = None, salt: int = 0) -> None:
        powers = powers or [10] * n
        signers = [Ed25519Signer(bytes([i + 1, salt]) * 16) for i in range(n)]
        pairs = sorted(zip(signers, powers, strict=True), key=lambda sp: sp[0].public_key)
        self.signers = [s for s, _ in pairs]
        self.set = ValidatorSet(
            tuple(Validator(s.public_key, p, f"v{i}") for i, (s, p) in enumerate(pairs))
        )

    def proposer_index(self, height: int, round: int) -> int:
        key = proposer(self.set, height, round)
        return [s.public_key for s in self.signers].index(key)

    def core(self, index: int | None, **kwargs: object) -> ConsensusCore:
        signer = None if index is None else self.signers[index]
        kwargs.setdefault("timeouts", TIMEOUTS)
        return ConsensusCore(chain_id=CHAIN, validators=self.set, signer=signer, **kwargs)  # type: ignore[arg-type]

    def vote(
        self, index: int, vote_type: VoteType, height: int, round: int, block_id: BlockId | None
    ) -> Vote:
        signer = self.signers[index]
        return sign_vote(signer, CHAIN, Vote(vote_type, height, round, block_id, b""))

    def proposal(
        self, height: int, round: int, block_id: BlockId, valid_round: int = -1
    ) -> Proposal:
        signer = self.signers[self.proposer_index(height, round)]
        return sign_proposal(signer, CHAIN, Proposal(height, round, valid_round, block_id, b""))


def prevote(vals: Validators, i: int, h: int, r: int, b: BlockId | None) -> ev.VoteReceived:
    return ev.VoteReceived(vals.vote(i, VoteType.PREVOTE, h, r, b))


def precommit(vals: Validators, i: int, h: int, r: int, b: BlockId | None) -> ev.VoteReceived:
    return ev.VoteReceived(vals.vote(i, VoteType.PRECOMMIT, h, r, b))


def broadcasts(effects: list[ev.Effect]) -> list[Proposal | Vote]:
    return [e.message for e in effects if isinstance(e, ev.Broadcast)]


def my_votes(effects: list[ev.Effect], vote_type: VoteType) -> list[BlockId | None]:
    return [m.block_id for m in broadcasts(effects) if isinstance(m, Vote) and m.type is vote_type]


def timeouts(effects: list[ev.Effect]) -> list[tuple[int, int, Step]]:
    return [(e.height, e.round, e.step) for e in effects if isinstance(e, ev.ScheduleTimeout)]


def assert_persist_before_send(effects: list[ev.Effect]) -> None:
    """Every Broadcast is preceded by a PersistSignState naming that very signature (as the
    last signed message, or among the height's own votes that a restart re-sends)."""
    persisted: set[bytes] = set()
    for effect in effects:
        if isinstance(effect, ev.PersistSignState):
            encoded = codec.encode_sign_state(effect.state)  # what a driver writes, and reads
            assert codec.decode_sign_state(encoded) == effect.state
            last = effect.state.last_signed
            if last is not None:
                persisted.add(last.signature)
            persisted.update(v.signature for v in effect.state.own_votes)
        elif isinstance(effect, ev.Broadcast):
            assert effect.message.signature in persisted, "broadcast before persist"


Deliver = Callable[[int, object], bool]


class Net:
    """Cores wired in memory. Messages are queued; `run()` delivers until quiet."""

    def __init__(self, vals: Validators, members: list[int], **core_kwargs: object) -> None:
        self.vals = vals
        self.cores = {i: vals.core(i, **core_kwargs) for i in members}
        self.now_ms = 0
        self.queue: list[tuple[int, ev.Event]] = []
        self.pending_timeouts: list[tuple[int, ev.ScheduleTimeout]] = []
        self.decisions: dict[int, dict[int, BlockId]] = {i: {} for i in members}
        self.persisted: dict[int, object] = {}
        self.valid: Callable[[BlockId], bool] = lambda b: True
        self.value: Callable[[int, int, int], BlockId] = lambda i, h, r: block(f"{h}/{r}/{i}")

    def start(self, height: int) -> None:
        for i, core in self.cores.items():
            self.apply(i, core.start_height(height, self.now_ms))

    def apply(self, i: int, effects: list[ev.Effect]) -> None:
        """Execute one core's effects, in order, as a driver would."""
        core = self.cores[i]
        core.check_invariants()
        assert_persist_before_send(effects)
        for effect in effects:
            if isinstance(effect, ev.PersistSignState):
                self.persisted[i] = effect.state
            elif isinstance(effect, ev.Broadcast):
                msg = effect.message
                event: ev.Event = (
                    ev.ProposalReceived(msg) if isinstance(msg, Proposal) else ev.VoteReceived(msg)
                )
                self.queue += [(j, event) for j in self.cores if j != i]
            elif isinstance(effect, ev.ScheduleTimeout):
                self.pending_timeouts.append((i, effect))
            elif isinstance(effect, ev.RequestProposalValue):
                value = self.value(i, effect.height, effect.round)
                self.queue.append((i, ev.ProposalValueSupplied(effect.height, effect.round, value)))
            elif isinstance(effect, ev.RequestValidity):
                verdict = self.valid(effect.block_id)
                self.queue.append((i, ev.ValidityVerdict(effect.height, effect.block_id, verdict)))
            elif isinstance(effect, ev.Decide):
                assert effect.height not in self.decisions[i], "decided twice"
                self.decisions[i][effect.height] = effect.block_id

    def step(self, index: int = 0) -> None:
        target, event = self.queue.pop(index)
        self.apply(target, self.cores[target].handle(event, self.now_ms))

    def run(self, limit: int = 100_000) -> None:
        for _ in range(limit):
            if not self.queue:
                return
            self.step()
        raise AssertionError("network did not go quiet")

    def deliver(self, wanted: Callable[[int, ev.Event], bool]) -> None:
        """Deliver queued events for which `wanted(target, event)` holds, until none is left."""
        while True:
            found = [k for k, (t, e) in enumerate(self.queue) if wanted(t, e)]
            if not found:
                return
            self.step(found[0])

    def drop(self, unwanted: Callable[[int, ev.Event], bool]) -> None:
        self.queue = [(t, e) for t, e in self.queue if not unwanted(t, e)]

    def timeout(self, i: int, height: int, round: int, step: Step) -> None:
        """Fire one timeout at core `i` now, whether or not it was scheduled."""
        event = ev.TimeoutElapsed(height, round, step)
        self.apply(i, self.cores[i].handle(event, self.now_ms))

    def fire_next_timeout(self) -> bool:
        if not self.pending_timeouts:
            return False
        self.pending_timeouts.sort(key=lambda it: (it[1].deadline_ms, it[0]))
        i, t = self.pending_timeouts.pop(0)
        self.now_ms = max(self.now_ms, t.deadline_ms)
        self.apply(
            i, self.cores[i].handle(ev.TimeoutElapsed(t.height, t.round, t.step), self.now_ms)
        )
        return True

    def run_height(self, height: int, max_timeouts: int = 200) -> None:
        """Start `height` everywhere and drive it until every core decided."""
        self.start(height)
        for _ in range(max_timeouts):
            self.run()
            if all(height in d for d in self.decisions.values()):
                return
            if not self.fire_next_timeout():
                break
        raise AssertionError(f"height {height} not decided: {self.decisions}")


VALIDATORS_4 = Validators(4)
