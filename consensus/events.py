"""The core's vocabulary: events in, effects out.

`ConsensusCore.handle(event, now_ms)` takes one event and returns the effects it causes, in the
order a driver must execute them. The ordering is a contract: `PersistSignState` always precedes
the `Broadcast` of the signature it guards, so "the sign state is on disk before any vote leaves
the process" holds in every driver.
"""

from __future__ import annotations

import enum

import attrs

from consensus.messages import (
    BlockId,
    Commit,
    DuplicateVoteEvidence,
    Proposal,
    SignState,
    Step,
    Vote,
)

# ---------------------------------------------------------------- events (in)


@attrs.frozen
class ProposalReceived:
    proposal: Proposal


@attrs.frozen
class VoteReceived:
    vote: Vote


@attrs.frozen
class TimeoutElapsed:
    height: int
    round: int
    step: Step


@attrs.frozen
class ProposalValueSupplied:
    """The answer to `RequestProposalValue`: the block this validator proposes (paper line 18)."""

    height: int
    round: int
    block_id: BlockId


@attrs.frozen
class ValidityVerdict:
    """The answer to `RequestValidity`: the paper's valid(v), deterministic for a block."""

    height: int
    block_id: BlockId
    valid: bool


Event = ProposalReceived | VoteReceived | TimeoutElapsed | ProposalValueSupplied | ValidityVerdict

# ---------------------------------------------------------------- effects (out)


@attrs.frozen
class PersistSignState:
    """Save (synced) before executing any later effect."""

    state: SignState


@attrs.frozen
class Broadcast:
    message: Proposal | Vote


@attrs.frozen
class ScheduleTimeout:
    deadline_ms: int
    height: int
    round: int
    step: Step


@attrs.frozen
class RequestProposalValue:
    """This validator proposes at (height, round) and has no validValue: supply a block."""

    height: int
    round: int


@attrs.frozen
class RequestValidity:
    """Judge the block `block_id` proposed at `height`; answer with `ValidityVerdict`."""

    height: int
    block_id: BlockId


@attrs.frozen
class Decide:
    """The paper's decision (line 49): `block_id` is final at `height`, proven by `commit`."""

    height: int
    round: int
    block_id: BlockId
    commit: Commit


@attrs.frozen
class ReportEvidence:
    evidence: DuplicateVoteEvidence


class RejectCode(enum.StrEnum):
    """Why the core refused an input: stable values to branch on (`reason` is for people)."""

    OTHER_HEIGHT = "other_height"  # a message for another height (normal under gossip)
    FUTURE_ROUND = "future_round"  # its sender already holds too many future rounds
    BAD_SIGNATURE = "bad_signature"
    NOT_A_VALIDATOR = "not_a_validator"
    WRONG_PROPOSER = "wrong_proposer"  # a proposal from someone not proposer(h, r)
    CONFLICTING_PROPOSAL = "conflicting_proposal"  # another proposal holds this round
    MALFORMED = "malformed"  # the event's shape or types are wrong
    MISUSE = "misuse"  # the driver broke the API contract (not started, bad now_ms, ...)


@attrs.frozen
class InputRejected:
    """An event was refused (bad signature, non-member, wrong height...). State is unchanged."""

    reason: str
    sender: bytes | None = None
    code: RejectCode = RejectCode.MALFORMED


Effect = (
    PersistSignState
    | Broadcast
    | ScheduleTimeout
    | RequestProposalValue
    | RequestValidity
    | Decide
    | ReportEvidence
    | InputRejected
)
