"""Shape checks for messages entering the core: field types and ranges, nothing stateful.

The codec already guarantees these for decoded bytes; the core checks again because a driver
may hand it values built some other way, and `handle()` promises to reject, never to crash.
Each check returns None when the value is well formed, else the reason.
"""

from __future__ import annotations

from consensus.codec import MAX_HEIGHT, MAX_ROUND
from consensus.messages import BLOCK_ID_SIZE, PUBLIC_KEY_SIZE, Proposal, Step, Vote, VoteType


def _is_int(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _is_bytes(value: object, size: int) -> bool:
    return type(value) is bytes and len(value) == size


def is_block_id(value: object) -> bool:
    return _is_bytes(value, BLOCK_ID_SIZE)


def proposal_problem(p: object) -> str | None:
    if not isinstance(p, Proposal):
        return "not a proposal"
    if not (_is_int(p.height, 0, MAX_HEIGHT) and _is_int(p.round, 0, MAX_ROUND)):
        return "proposal height or round out of range"
    if not _is_int(p.valid_round, -1, p.round - 1):
        return "proposal valid_round must be in [-1, round)"
    if not is_block_id(p.block_id):
        return "proposal block_id must be 32 bytes"
    if not _is_bytes(p.proposer, PUBLIC_KEY_SIZE) or type(p.signature) is not bytes:
        return "proposal proposer or signature malformed"
    return None


def vote_problem(v: object) -> str | None:
    # The checks of `_is_int` and `_is_bytes`, written out: this runs for every vote.
    if not isinstance(v, Vote):
        return "not a vote"
    if not isinstance(v.type, VoteType):
        return "vote type must be PREVOTE or PRECOMMIT"
    height, round_ = v.height, v.round
    if not (
        type(height) is int
        and 0 <= height <= MAX_HEIGHT
        and type(round_) is int
        and 0 <= round_ <= MAX_ROUND
    ):
        return "vote height or round out of range"
    block_id = v.block_id
    if block_id is not None and not (type(block_id) is bytes and len(block_id) == BLOCK_ID_SIZE):
        return "vote block_id must be nil or 32 bytes"
    validator = v.validator
    if not (type(validator) is bytes and len(validator) == PUBLIC_KEY_SIZE):
        return "vote validator or signature malformed"
    if type(v.signature) is not bytes:
        return "vote validator or signature malformed"
    return None


def hrs_problem(height: object, round: object, step: object) -> str | None:
    if not (_is_int(height, 0, MAX_HEIGHT) and _is_int(round, 0, MAX_ROUND)):
        return "height or round out of range"
    if not isinstance(step, Step):
        return "step must be a Step"
    return None
