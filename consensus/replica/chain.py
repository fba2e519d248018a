"""The committed chain as the replica needs it, and the two questions asked about new blocks.

`ChainTip` is what the next block must extend (previous id, time, app hash, commit).
`build_block` makes this validator's proposal from the mempool and the evidence pool;
`check_block` is the paper's valid(v): deterministic, it reads only the block and the committed
chain (tip, validator set, committed evidence, the application's committed state), never a clock
or the mempool, so every correct validator gives the same verdict.
"""

from __future__ import annotations

import attrs

from consensus.commit import CommitError, verify_commit
from consensus.crypto import SignatureScheme
from consensus.interfaces import Application, Mempool
from consensus.messages import BlockId, Commit, ValidatorSet
from consensus.replica.block import GENESIS_BLOCK_ID, Block, block_id, make_block
from consensus.replica.config import ReplicaConfig
from consensus.replica.evidence import EvidencePool, check_block_evidence


@attrs.frozen
class ChainTip:
    """The last committed block (height 0: genesis)."""

    height: int
    block_id: BlockId = GENESIS_BLOCK_ID
    time_ms: int = 0
    commit: Commit | None = None  # the commit certificate of `height`, None at genesis


def build_block(
    *,
    chain_id: str,
    tip: ChainTip,
    app: Application,
    mempool: Mempool,
    pool: EvidencePool,
    proposer: bytes,
    config: ReplicaConfig,
    now_ms: int,
) -> Block:
    """This validator's block for height tip.height + 1."""
    height = tip.height + 1
    txs = mempool.reap(config.max_block_bytes, config.max_block_txs)
    return make_block(
        chain_id=chain_id,
        height=height,
        time_ms=min(max(now_ms, tip.time_ms + 1), tip.time_ms + config.max_block_time_step_ms),
        prev_block_id=tip.block_id,
        app_hash=app.app_hash,
        proposer=proposer,
        txs=txs,
        last_commit=tip.commit,
        evidence=pool.pending(config.max_block_evidence, height),
    )


def check_block(
    block: Block,
    *,
    chain_id: str,
    tip: ChainTip,
    app: Application,
    pool: EvidencePool,
    validators: ValidatorSet,
    scheme: SignatureScheme,
    config: ReplicaConfig,
) -> str | None:
    """None if `block` is a valid next block on `tip`, else the reason it is not."""
    header = block.header
    height = tip.height + 1
    if header.chain_id != chain_id:
        return f"block for chain {header.chain_id!r}, not {chain_id!r}"
    if header.height != height:
        return f"block height {header.height}, expected {height}"
    if header.prev_block_id != tip.block_id:
        return "block does not extend the committed chain"
    if header.app_hash != app.app_hash:
        return "block app hash differs from the committed state"
    if header.time_ms <= tip.time_ms:
        return "block time does not increase"
    if header.time_ms > tip.time_ms + config.max_block_time_step_ms:
        return "block time jumps too far ahead of its predecessor"
    if not validators.is_member(header.proposer):
        return "block proposer is not a validator"
    if len(block.txs) > config.max_block_txs:
        return f"block carries {len(block.txs)} transactions, limit {config.max_block_txs}"
    if sum(len(tx) for tx in block.txs) > config.max_block_bytes:
        return "block transactions exceed the byte limit"
    if height == 1:
        if block.last_commit is not None:
            return "block 1 carries a last commit"
    else:
        if block.last_commit is None:
            return "block carries no commit of its predecessor"
        try:
            verify_commit(
                block.last_commit, validators, chain_id, tip.block_id, scheme, height=tip.height
            )
        except CommitError as exc:
            return f"last commit invalid: {exc}"
    reason = check_block_evidence(
        block.evidence,
        pool=pool,
        chain_id=chain_id,
        validators=validators,
        scheme=scheme,
        height=height,
        max_count=config.max_block_evidence,
    )
    if reason is not None:
        return reason
    return app.validate_block_txs(height, block.txs)


def tip_of(block: Block, commit: Commit) -> ChainTip:
    """The tip after committing `block` with `commit`."""
    return ChainTip(block.header.height, block_id(block.header), block.header.time_ms, commit)
