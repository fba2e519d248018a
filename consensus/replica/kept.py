"""The blocks a validator keeps durably beside its sign state, so a crash cannot stall the chain.

Why: a restarted validator resumes its height from its sign state: its lock, its valid value,
the polka behind the valid value and its own votes of the height (`SignState`). The blocks the
lock and the valid value name lived only in memory. When every validator holding such a block
crashed, a core with more than 1/3 of the power locked on it could neither re-propose it (no
one had the block) nor form a polka for anything else (the locked validators refuse it): the
chain stopped for good with no fault beyond the model (default simulator seeds 15, 108 and
236 on main 79ebb75, "excused" there as missing data). CometBFT keeps proposal blocks in its
consensus WAL for the same reason.

So every persisted sign state carries the encoded blocks of its locked and valid values
(`encode_sign_state(state, blocks)`, the same synced write as the lock itself), and a
restarted replica puts them back in its block cache before its core resumes the height: it can
re-propose its valid value and answer valid(v) for it at once.
"""

from __future__ import annotations

import attrs

from consensus import codec
from consensus.codec import DecodeError
from consensus.messages import BlockId, SignState
from consensus.replica.base import ReplicaParts
from consensus.replica.block import Block, block_id, decode_block


@attrs.frozen
class Kept:
    """Blocks restored with the sign state of `height` (empty for a new store)."""

    height: int = 0
    blocks: tuple[tuple[BlockId, Block, bytes], ...] = ()


def to_keep(state: SignState, blocks: dict[BlockId, tuple[Block, bytes]]) -> tuple[bytes, ...]:
    """The encoded blocks of `state`'s locked and valid values that we hold."""
    raw: list[bytes] = []
    for value in (state.locked_value, state.valid_value):
        held = blocks.get(value) if value is not None else None
        if held is not None and held[1] not in raw:
            raw.append(held[1])
    return tuple(raw)


def restore_kept(state: SignState, raw_blocks: tuple[bytes, ...], max_bytes: int) -> Kept:
    """The kept blocks of a stored sign state; DecodeError if one does not decode or names
    neither the locked nor the valid value of `state` (a corrupt store, not a peer's word)."""
    named = {state.locked_value, state.valid_value} - {None}
    blocks = []
    for raw in raw_blocks:
        block = decode_block(raw, max_bytes)
        bid = block_id(block.header)
        if bid not in named or block.header.height != state.height:
            raise DecodeError("a kept block is neither the locked nor the valid value")
        blocks.append((bid, block, raw))
    return Kept(state.height, tuple(blocks))


class Keeping(ReplicaParts):
    """The replica's side of it (mixed into Replica): what to persist, and the restore."""

    _kept: Kept

    def _sign_record(self, state: SignState) -> bytes:
        """`state` encoded with the blocks its lock and valid value name: one synced write
        makes the lock and its block durable together."""
        return codec.encode_sign_state(state, to_keep(state, self._blocks))

    def _restored_blocks(self) -> dict[BlockId, tuple[Block, bytes]]:
        """The block cache of a height being begun: the kept blocks if we resume their height
        (once: a later height starts empty)."""
        kept, self._kept = self._kept, Kept()
        if kept.height != self.height:
            return {}
        return {bid: (block, raw) for bid, block, raw in kept.blocks}
