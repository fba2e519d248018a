"""The committed chain as the replica needs it, and the two questions asked about new blocks.

`ChainTip` is what the next block must extend (previous id, time, commit). `build_block` makes
this validator's proposal from the mempool and the evidence pool, executing it so the header
can commit to its outcome. The paper's valid(v) is `check_block` (the header and the body
against the committed chain) followed by `check_execution` (the header's app hash and results
root against executing the block): deterministic, it reads only the block and the committed
chain (tip, validator set, committed evidence, the application's committed state), never a
clock or the mempool, so every correct validator gives the same verdict.

Block time. A proposer stamps its clock (`next_block_time`), kept above the previous block's
time and at most `max_block_time_step_ms` beyond it; valid(v) checks both bounds. Chain time
decides which transactions have expired, so a block must also not run ahead of the validators'
clocks: a validator answers valid(v) for a block stamped more than `max_clock_drift_ms` ahead
of its own clock only once its clock gets there (the replica defers the answer), so a block
certified by 2f+1 was no further ahead than the drift bound for at least f+1 correct clocks.
Deferring, rather than refusing, keeps valid(v) deterministic: every validator gives the same
answer, some later than others.
"""

from __future__ import annotations

import attrs

from consensus.commit import CommitError, verify_commit
from consensus.crypto import SignatureScheme
from consensus.interfaces import Application, BlockExecution, Mempool
from consensus.merkle import merkle_root
from consensus.messages import BlockId, Commit, ValidatorSet
from consensus.replica.block import GENESIS_BLOCK_ID, Block, Header, block_id, make_block
from consensus.replica.config import ReplicaConfig
from consensus.replica.evidence import EvidencePool, check_block_evidence


@attrs.frozen
class ChainTip:
    """The last committed block (height 0: genesis)."""

    height: int
    block_id: BlockId = GENESIS_BLOCK_ID
    time_ms: int = 0
    commit: Commit | None = None  # the commit certificate of `height`, None at genesis


def next_block_time(tip: ChainTip, config: ReplicaConfig, now_ms: int) -> int:
    """The time this validator stamps on the block after `tip`: its clock, kept strictly
    above the tip's time and within the largest step valid(v) allows."""
    return min(max(now_ms, tip.time_ms + 1), tip.time_ms + config.max_block_time_step_ms)


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
) -> tuple[Block, BlockExecution]:
    """This validator's block for height tip.height + 1, and its execution."""
    height = tip.height + 1
    time_ms = next_block_time(tip, config, now_ms)
    txs = mempool.reap(config.max_block_bytes, config.max_block_txs, time_ms)
    execution = app.execute_block(height, time_ms, txs)
    block = make_block(
        chain_id=chain_id,
        height=height,
        time_ms=time_ms,
        prev_block_id=tip.block_id,
        app_hash=execution.app_hash,
        results_root=merkle_root(execution.result_leaves),
        proposer=proposer,
        txs=txs,
        last_commit=tip.commit,
        evidence=pool.pending(config.max_block_evidence, height),
    )
    return block, execution


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
    """None if `block` is a valid next block on `tip` as far as can be told without
    executing it (then `check_execution` decides), else the reason it is not."""
    header = block.header
    height = tip.height + 1
    if header.chain_id != chain_id:
        return f"block for chain {header.chain_id!r}, not {chain_id!r}"
    if header.height != height:
        return f"block height {header.height}, expected {height}"
    if header.prev_block_id != tip.block_id:
        return "block does not extend the committed chain"
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
    return app.validate_block_txs(height, header.time_ms, block.txs)


def check_execution(header: Header, execution: BlockExecution) -> str | None:
    """None if the header commits to what executing its block produced, else why not."""
    if header.app_hash != execution.app_hash:
        return "block app hash differs from executing it"
    if header.results_root != merkle_root(execution.result_leaves):
        return "block results root differs from executing it"
    return None


def tip_of(block: Block, commit: Commit) -> ChainTip:
    """The tip after committing `block` with `commit`."""
    return ChainTip(block.header.height, block_id(block.header), block.header.time_ms, commit)
