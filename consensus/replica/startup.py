"""Starting a replica from its store: a new store's first sign state, and safe resumption.

A validator that lost its sign state could sign twice after a restart, so a missing or
inconsistent sign state stops it here with `ReplicaStartError`; nothing is ever re-created
silently. `initialize_store` is the one, explicit way a brand-new store gets its first sign
state (height 1, nothing signed), so a store with committed heights but no sign state is
detectably broken.
"""

from __future__ import annotations

import attrs

from consensus import codec
from consensus.codec import DecodeError
from consensus.interfaces import Application, Store
from consensus.messages import SignState, Step
from consensus.replica.block import Block, block_id, decode_block
from consensus.replica.chain import ChainTip, tip_of
from consensus.replica.config import ReplicaConfig
from consensus.replica.evidence import EvidencePool
from consensus.replica.wire import MAX_WIRE_BYTES


class ReplicaStartError(Exception):
    """The store cannot be resumed from safely (missing or inconsistent sign state...)."""


def initialize_store(store: Store) -> None:
    """Give a brand-new, empty store its first sign state (height 1, nothing signed)."""
    if store.load_sign_state() is not None:
        raise ReplicaStartError("the store already has a sign state")
    if store.last_height() != 0:
        raise ReplicaStartError(
            f"the store has {store.last_height()} committed heights but no sign state; "
            "refusing to re-create it (restore the sign state from a backup)"
        )
    store.save_sign_state(codec.encode_sign_state(SignState(height=1, round=0, step=Step.PROPOSE)))


@attrs.frozen
class Restored:
    sign_state: SignState
    tip: ChainTip
    pool: EvidencePool


def restore(
    store: Store, app: Application, chain_id: str, config: ReplicaConfig, genesis_time_ms: int = 0
) -> Restored:
    """Everything a replica resumes from, checked for consistency; ReplicaStartError if not.
    `genesis_time_ms` is the tip's time while nothing is committed."""
    raw = store.load_sign_state()
    if raw is None:
        raise ReplicaStartError(
            "the store has no sign state: run Replica.initialize_store on a new store; "
            "an existing node must never start without its sign state"
        )
    try:
        sign_state = codec.decode_sign_state(raw)
    except DecodeError as exc:
        raise ReplicaStartError(f"the stored sign state is corrupt: {exc}") from None
    last = store.last_height()
    if app.height != last:
        raise ReplicaStartError(f"application at height {app.height}, store at {last}")
    if sign_state.height > last + 1:
        raise ReplicaStartError(
            f"sign state at height {sign_state.height} but only {last} heights committed"
        )
    signed = sign_state.last_signed
    if signed is not None and signed.height > sign_state.height:
        raise ReplicaStartError("sign state's last signature is above its height")
    tip = ChainTip(0, time_ms=genesis_time_ms)
    if last > 0:
        block, tip = _load_tip(store, last, chain_id)
        if block.header.app_hash != app.app_hash:
            raise ReplicaStartError(
                f"the application state does not match the app hash of stored block {last}"
            )
    pool = EvidencePool(
        max_pending=config.max_pending_evidence, max_age_heights=config.evidence_max_age_heights
    )
    for height in range(max(1, last - config.evidence_max_age_heights + 1), last + 1):
        pool.mark_committed(_load_block(store, height).evidence, height)
    return Restored(sign_state, tip, pool)


def _load_block(store: Store, height: int) -> Block:
    raw = store.load_block(height)
    if raw is None:
        raise ReplicaStartError(f"the store lacks block {height}")
    try:
        return decode_block(raw, MAX_WIRE_BYTES)
    except DecodeError as exc:
        raise ReplicaStartError(f"stored block {height} is corrupt: {exc}") from None


def _load_tip(store: Store, last: int, chain_id: str) -> tuple[Block, ChainTip]:
    block = _load_block(store, last)
    raw = store.load_commit(last)
    if raw is None:
        raise ReplicaStartError(f"the store lacks the commit of height {last}")
    try:
        commit = codec.decode_commit(raw)
    except DecodeError as exc:
        raise ReplicaStartError(f"stored commit {last} is corrupt: {exc}") from None
    if block.header.chain_id != chain_id or commit.block_id != block_id(block.header):
        raise ReplicaStartError(f"stored block {last} does not match its commit or chain")
    return block, tip_of(block, commit)
