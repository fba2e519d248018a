"""The evidence pool: verified equivocations waiting for a block, and those already committed.

Evidence is two signed votes by one validator for the same (height, round, type) naming
different values. It is verified once on entry, identified by that key (so the same misbehaviour
arriving as a differently-ordered pair counts once), and kept until a block commits it. Evidence
older than `max_age_heights` is neither accepted nor valid in a block; that bound is what keeps
both the pending pool and the committed-key window finite, and what lets a restarted replica
rebuild the window from the last blocks of its store. Validity of a block's evidence depends
only on the block and the committed chain.
"""

from __future__ import annotations

from collections.abc import Sequence

from consensus.commit import EvidenceError, verify_evidence
from consensus.crypto import SignatureScheme
from consensus.messages import DuplicateVoteEvidence, ValidatorSet

EvidenceKey = tuple[bytes, int, int, int]  # validator, height, round, vote type


def evidence_key(evidence: DuplicateVoteEvidence) -> EvidenceKey:
    v = evidence.vote_a
    return (v.validator, v.height, v.round, int(v.type))


def check_evidence(
    evidence: DuplicateVoteEvidence,
    *,
    chain_id: str,
    validators: ValidatorSet,
    scheme: SignatureScheme,
    height: int,
    max_age_heights: int,
) -> str | None:
    """None if `evidence` proves equivocation and may be committed in block `height`."""
    vote_height = evidence.vote_a.height
    if not height - max_age_heights <= vote_height < height:
        return f"evidence height {vote_height} outside the window for block {height}"
    try:
        verify_evidence(evidence, validators, chain_id, scheme)
    except EvidenceError as exc:
        return f"evidence invalid: {exc}"
    return None


class EvidencePool:
    """Pending (verified, uncommitted) evidence and the recently committed keys."""

    def __init__(self, *, max_pending: int, max_age_heights: int) -> None:
        self._max_pending = max_pending
        self._max_age = max_age_heights
        self._pending: dict[EvidenceKey, DuplicateVoteEvidence] = {}
        self._committed: dict[EvidenceKey, int] = {}  # key -> height of the committing block

    @property
    def max_age_heights(self) -> int:
        return self._max_age

    def known(self, evidence: DuplicateVoteEvidence) -> bool:
        key = evidence_key(evidence)
        return key in self._pending or key in self._committed

    def add(self, evidence: DuplicateVoteEvidence) -> bool:
        """Keep already-verified `evidence`; False if known or the pool is full."""
        if self.known(evidence) or len(self._pending) >= self._max_pending:
            return False
        self._pending[evidence_key(evidence)] = evidence
        return True

    def pending(self, limit: int, height: int) -> list[DuplicateVoteEvidence]:
        """Up to `limit` pending items includable in block `height`, in key order."""
        keys = sorted(k for k in self._pending if height - self._max_age <= k[1] < height)
        return [self._pending[k] for k in keys[:limit]]

    def is_committed(self, evidence: DuplicateVoteEvidence) -> bool:
        return evidence_key(evidence) in self._committed

    def mark_committed(self, evidence: Sequence[DuplicateVoteEvidence], height: int) -> None:
        """Block `height` committed `evidence`; forget what aged out of the window."""
        for item in evidence:
            key = evidence_key(item)
            self._pending.pop(key, None)
            self._committed[key] = height
        floor = height + 1 - self._max_age
        for key in [k for k in self._committed if k[1] < floor]:
            del self._committed[key]
        for key in [k for k in self._pending if k[1] < floor]:
            del self._pending[key]

    def __len__(self) -> int:
        return len(self._pending)


def check_block_evidence(
    evidence: Sequence[DuplicateVoteEvidence],
    *,
    pool: EvidencePool,
    chain_id: str,
    validators: ValidatorSet,
    scheme: SignatureScheme,
    height: int,
    max_count: int,
) -> str | None:
    """None if a block at `height` may carry `evidence` (verified, fresh, not yet committed)."""
    if len(evidence) > max_count:
        return f"block carries {len(evidence)} evidence items, limit {max_count}"
    seen: set[EvidenceKey] = set()
    for item in evidence:
        reason = check_evidence(
            item,
            chain_id=chain_id,
            validators=validators,
            scheme=scheme,
            height=height,
            max_age_heights=pool.max_age_heights,
        )
        if reason is not None:
            return reason
        key = evidence_key(item)
        if key in seen or pool.is_committed(item):
            return "block carries evidence that is duplicated or already committed"
        seen.add(key)
    return None
