"""Online safety checkers, apart from the replica: they see only effects and messages.

Checked at every event that could break them, failing fast with a `Violation`:
- agreement and integrity: correct validators commit one block per height, heights in order,
  the same block at the same height, across restarts;
- certificates: every committed block carries precommits for it from distinct members holding
  more than 2/3 of the power, each validly signed (counted here, not by the replica);
- equal app hashes at equal heights (deterministic execution);
- no correct validator signs two different messages for one (height, round, step), proposes
  out of turn or anything but its validValue, or prevotes against its lock without a polka
  (lock discipline, "no amnesia"), or votes for a value with no reason among the messages sent
  (`sim.justification`: a proposal from the round's proposer, and the polka it needs);
- a correct validator's signature leaves only after its sign state covering it is persisted.
When the faulty validators hold 1/3 of the power or more, a fork is an expected outcome: it is
recorded for the accountability checker instead of failing the run.
"""

from __future__ import annotations

from consensus.codec import DecodeError, decode_commit, decode_sign_state
from consensus.messages import Proposal, SignState, Step, ValidatorSet, Vote, VoteType
from consensus.proposer import proposer
from consensus.replica.events import CommitBlock
from sim.justification import Justification
from sim.result import Outcome
from sim.votes_seen import VoteRecord


class Violation(Exception):
    """A checker found a failure; `outcome` says which kind."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


def _step_of(message: Proposal | Vote) -> Step:
    return Step.PROPOSE if isinstance(message, Proposal) else message.type.step


class SafetyChecker:
    """Agreement, integrity, certificates, app hashes, and correct validators' signing."""

    def __init__(
        self, record: VoteRecord, validators: ValidatorSet, names: dict[bytes, str], strict: bool
    ) -> None:
        self.record = record
        self.validators = validators
        self.names = names
        self.strict = strict  # faulty power < 1/3: a fork is a violation, not an outcome
        self.decided: dict[int, bytes] = {}
        self.app_hashes: dict[int, bytes] = {}
        self.forks: list[tuple[int, str]] = []
        self.last_height: dict[int, int] = {}
        self.signed: dict[tuple[bytes, int, int, Step], Proposal | Vote] = {}
        self.persisted: dict[int, tuple[int, int, int]] = {}
        self.proposing: dict[tuple[int, int, int], SignState] = {}  # (instance, h, r) -> state
        self._decoded: dict[bytes, SignState] = {}
        self.commits_checked = 0
        self.justification = Justification(record, validators)

    def _name(self, key: bytes) -> str:
        return self.names.get(key, key[:4].hex())

    # ------------------------------------------------------------ commits

    def on_commit(self, instance: int, effect: CommitBlock) -> None:
        """A correct instance committed a block (its store saved it)."""
        height = effect.record.height
        previous = self.last_height.get(instance, 0)
        if height != previous + 1:
            raise Violation(
                Outcome.SAFETY,
                f"integrity: instance {instance} committed height {height} after {previous}",
            )
        self.last_height[instance] = height
        self._check_certificate(instance, effect)
        if self.forks and not self.strict:
            return  # after an accountable fork the chains differ; the rest is for A1/A2
        known = self.decided.setdefault(height, effect.block_id)
        if known != effect.block_id:
            reason = (
                f"agreement: height {height} committed as {known[:4].hex()} and as "
                f"{effect.block_id[:4].hex()} (instance {instance})"
            )
            if self.strict:
                raise Violation(Outcome.SAFETY, reason)
            self.forks.append((height, reason))
            return
        app_hash = self.app_hashes.setdefault(height, effect.record.app_hash)
        if app_hash != effect.record.app_hash:
            raise Violation(
                Outcome.SAFETY,
                f"determinism: app hash at height {height} differs on instance {instance}",
            )

    def _check_certificate(self, instance: int, effect: CommitBlock) -> None:
        self.commits_checked += 1
        height = effect.record.height
        try:
            commit = decode_commit(effect.record.commit)
        except DecodeError as exc:
            raise Violation(Outcome.SAFETY, f"certificate at height {height}: {exc}") from None
        signers: set[bytes] = set()
        for vote in commit.precommits:
            ok = (
                vote.type is VoteType.PRECOMMIT
                and vote.height == height
                and vote.block_id == effect.block_id
                and self.record.authentic(vote)
            )
            if not ok:
                raise Violation(
                    Outcome.SAFETY,
                    f"certificate at height {height} (instance {instance}) holds an invalid "
                    f"precommit from {self._name(vote.validator)}",
                )
            signers.add(vote.validator)
        power = sum(self.record.power(key) for key in signers)
        if commit.block_id != effect.block_id or commit.height != height:
            raise Violation(Outcome.SAFETY, f"certificate at height {height} names another block")
        if 3 * power <= 2 * self.record.total_power:
            raise Violation(
                Outcome.SAFETY,
                f"certificate at height {height} (instance {instance}): {len(commit.precommits)}"
                f" precommits from {len(signers)} distinct validators hold {power}/"
                f"{self.record.total_power} of the power, not more than 2/3",
            )

    # ------------------------------------------------------------ signing

    def on_persist(self, instance: int, data: bytes) -> None:
        """A correct instance persisted its sign state."""
        try:
            state = self._decode(data)
        except DecodeError as exc:
            raise Violation(Outcome.SAFETY, f"instance {instance} persisted junk: {exc}") from None
        if state.last_signed is not None:
            signed = state.last_signed
            self.persisted[instance] = (signed.height, signed.round, int(signed.step))

    def _decode(self, data: bytes) -> SignState:
        """Decode a sign state; each is seen twice (emitted, then durable): decode it once."""
        state = self._decoded.get(data)
        if state is None:
            if len(self._decoded) >= 256:
                self._decoded.clear()
            state = self._decoded[data] = decode_sign_state(data)
        return state

    def on_sign_state(self, instance: int, data: bytes) -> None:
        """A correct instance's replica emitted a sign state (durable later, perhaps coalesced
        into a newer one): for a proposal, the state it was signed under."""
        try:
            state = self._decode(data)
        except DecodeError:
            return  # judged when persisted
        signed = state.last_signed
        if signed is not None and signed.step is Step.PROPOSE:
            self.proposing[(instance, signed.height, signed.round)] = state
            self.justification.on_sign_state(state)

    def on_proposal_sent(self, proposal: Proposal) -> None:
        """Any instance sent `proposal` (a reason for votes, if its round's proposer signed it)."""
        self.justification.on_proposal(proposal)

    def on_own_message(self, instance: int, key: bytes, message: Proposal | Vote) -> None:
        """A correct instance sent `message`, signed with its own key `key`."""
        step = _step_of(message)
        hrs = (message.height, message.round, int(step))
        if self.persisted.get(instance, (-1, -1, -1)) < hrs:
            raise Violation(
                Outcome.SAFETY,
                f"{self._name(key)} sent its {step.name.lower()} for height {message.height} "
                f"round {message.round} before persisting a sign state covering it",
            )
        slot = (key, message.height, message.round, step)
        first = slot not in self.signed
        before = self.signed.setdefault(slot, message)
        if _content(before) != _content(message):
            raise Violation(
                Outcome.SAFETY,
                f"double sign: correct {self._name(key)} signed two different "
                f"{step.name.lower()}s at height {message.height} round {message.round}",
            )
        if isinstance(message, Proposal):
            expected = proposer(self.validators, message.height, message.round)
            if expected != key:
                raise Violation(
                    Outcome.SAFETY,
                    f"{self._name(key)} proposed at height {message.height} round "
                    f"{message.round} out of turn",
                )
            if first:
                self._check_valid_value(instance, key, message)
        else:
            reason = self.justification.unjustified(message)
            if reason is not None:
                raise Violation(Outcome.SAFETY, f"correct {self._name(key)} {reason}")
            if message.type is VoteType.PREVOTE and message.block_id is not None:
                self._check_lock(key, message)

    def _check_valid_value(self, instance: int, key: bytes, proposal: Proposal) -> None:
        """Lines 15-19: a proposer with a validValue proposes it, with vr = validRound (the
        sign state it signed the proposal under says what they are)."""
        state = self.proposing.get((instance, proposal.height, proposal.round))
        if state is None or state.height != proposal.height:
            return
        expected = (state.valid_value, state.valid_round) if state.valid_value else (None, -1)
        if expected[0] is None and proposal.valid_round == -1:
            return
        if (proposal.block_id, proposal.valid_round) != expected:
            raise Violation(
                Outcome.SAFETY,
                f"{self._name(key)} proposed {proposal.block_id[:4].hex()} with valid round "
                f"{proposal.valid_round} at height {proposal.height} round {proposal.round}, "
                f"but its validValue is {_short(expected[0])} from round {expected[1]}",
            )

    def _check_lock(self, key: bytes, prevote: Vote) -> None:
        h, r2, value = prevote.height, prevote.round, prevote.block_id
        assert value is not None
        for r1 in range(r2):
            ids = self.record.by_voter.get((key, h, r1, VoteType.PRECOMMIT), [])
            for locked in ids:
                if locked is None or locked == value:
                    continue
                if not self.record.polka_between(h, r1, r2, value):
                    raise Violation(
                        Outcome.SAFETY,
                        f"lock violated: correct {self._name(key)} precommitted "
                        f"{locked[:4].hex()} at height {h} round {r1}, then prevoted "
                        f"{value[:4].hex()} at round {r2} with no polka for it since",
                    )


def _short(block_id: bytes | None) -> str:
    return "nil" if block_id is None else block_id[:4].hex()


def _content(message: Proposal | Vote) -> tuple[object, ...]:
    if isinstance(message, Proposal):
        return (message.block_id, message.valid_round)
    return (message.block_id,)
