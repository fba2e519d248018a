"""Replica settings: every limit in one frozen value, passed explicitly (never read globally).

Units are last in names (TigerBeetle style). The defaults suit a 4-validator LAN deployment;
the simulator and the tests shrink the intervals.
"""

from __future__ import annotations

import attrs

from consensus.timeouts import TimeoutConfig


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen
class ReplicaConfig:
    """What a replica may do and how much it may hold. All limits are hard."""

    timeouts: TimeoutConfig = attrs.field(factory=TimeoutConfig)
    max_block_bytes: int = attrs.field(default=1_000_000, validator=_positive)
    max_block_txs: int = attrs.field(default=2_000, validator=_positive)
    create_empty_blocks: bool = True
    """True: propose (possibly empty) blocks at once. False: wait for a transaction, or for
    `empty_block_interval_ms` to pass since the last commit, before proposing."""
    empty_block_interval_ms: int = attrs.field(default=30_000, validator=_positive)
    status_interval_ms: int = attrs.field(default=1_000, validator=_positive)
    tx_flush_interval_ms: int = attrs.field(default=20, validator=_positive)
    tx_batch_max: int = attrs.field(default=256, validator=_positive)
    tx_seen_cache_size: int = attrs.field(default=100_000, validator=_positive)
    relay_max_txs: int = attrs.field(default=2_000, validator=_positive)
    relay_max_bytes: int = attrs.field(default=4_000_000, validator=_positive)
    """A peer that (re)connects gets at most this many pending transactions (this many bytes)
    from our mempool, in batches of `tx_batch_max`, so it also gets what it missed."""
    max_message_bytes: int = attrs.field(default=4_000_000, validator=_positive)
    max_future_heights: int = attrs.field(default=2, validator=_positive)
    """Messages for heights up to current + this are buffered; beyond, dropped."""
    max_buffered_per_peer: int = attrs.field(default=256, validator=_positive)
    max_pending_evidence: int = attrs.field(default=64, validator=_positive)
    max_block_evidence: int = attrs.field(default=8, validator=_positive)
    evidence_max_age_heights: int = attrs.field(default=100, validator=_positive)
    catchup_retry_ms: int = attrs.field(default=500, validator=_positive)
    max_catchup_batch: int = attrs.field(default=16, validator=_positive)
    """Blocks a peer returns for one GetBlocks request (each with its commit)."""
    fetch_retry_ms: int = attrs.field(default=300, validator=_positive)
    max_block_time_step_ms: int = attrs.field(default=3_600_000, validator=_positive)
    """A block's time may exceed its predecessor's by at most this much (so a Byzantine
    proposer cannot push the chain's clock to the end of time); after a longer halt, chain
    time catches up over several blocks."""
    max_clock_drift_ms: int = attrs.field(default=1_000, validator=_positive)
    """How far ahead of this validator's clock a proposed block's time may be before its
    verdict waits for the clock (see `consensus.replica.chain`): the bound on how far apart
    correct validators' clocks are assumed to be."""
    bugs: frozenset[str] = frozenset()
    """Planted consensus-core bugs (`consensus.core.KNOWN_BUGS`), for the simulator only."""
