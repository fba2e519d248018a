"""What a validator keeps durably beside its sign state, so that a crash cannot stall the chain.

Why: a restarted validator resumes its height with the lock and valid value of its sign state.
The block they name and the 2f+1 prevotes that justify the valid value (the polka line 28 of
Algorithm 1 asks for when the value is re-proposed) used to live only in memory. A crash of
every validator holding them then left a core locked on a block nobody had and unable to
re-propose it: with more than 1/3 of the power locked, no other value can gather a polka
either, so the chain stopped for ever with no fault beyond the model (simulator seed 108).
CometBFT keeps the same data in its consensus WAL for the same reason.

So every persisted sign state carries the encoded blocks of its locked and valid values and
the prevotes for the valid value in its valid round (`encode_sign_state(state, blocks,
polka)`), written in the same synced write as the lock itself. On restart the blocks go back
into the block cache and the prevotes into the core, as if they had just arrived.
"""

from __future__ import annotations

import attrs

from consensus import codec
from consensus.codec import DecodeError
from consensus.core import ConsensusCore
from consensus.events import VoteReceived
from consensus.messages import BlockId, SignState, Vote, VoteType
from consensus.replica import events as ev
from consensus.replica.base import ReplicaParts
from consensus.replica.block import Block, block_id, decode_block


@attrs.frozen
class Kept:
    """Blocks and prevotes restored with the sign state of `height` (empty for a new store)."""

    height: int = 0
    blocks: tuple[tuple[BlockId, Block, bytes], ...] = ()
    polka: tuple[Vote, ...] = ()


def to_keep(
    state: SignState, core: ConsensusCore, blocks: dict[BlockId, tuple[Block, bytes]]
) -> tuple[tuple[bytes, ...], tuple[Vote, ...]]:
    """(encoded blocks, prevotes) to persist with `state`: the blocks of its locked and valid
    values that we hold, and the prevotes for its valid value in its valid round."""
    raw: list[bytes] = []
    for value in (state.locked_value, state.valid_value):
        held = blocks.get(value) if value is not None else None
        if held is not None and held[1] not in raw:
            raw.append(held[1])
    polka: tuple[Vote, ...] = ()
    if state.valid_value is not None and state.height == core.height:
        polka = tuple(
            v
            for v in core.votes(state.valid_round, VoteType.PREVOTE)
            if v.block_id == state.valid_value
        )
    return tuple(raw), polka


def restore_kept(
    state: SignState, raw_blocks: tuple[bytes, ...], polka: tuple[Vote, ...], max_bytes: int
) -> Kept:
    """The kept data of a stored sign state; DecodeError if a block does not decode or names
    neither the locked nor the valid value of `state` (a corrupt store, not a peer's word)."""
    wanted = {state.locked_value, state.valid_value} - {None}
    blocks = []
    for raw in raw_blocks:
        block = decode_block(raw, max_bytes)
        bid = block_id(block.header)
        if bid not in wanted or block.header.height != state.height:
            raise DecodeError("a kept block is neither the locked nor the valid value")
        blocks.append((bid, block, raw))
    return Kept(state.height, tuple(blocks), polka)


class Keeping(ReplicaParts):
    """The replica's side of it (mixed into Replica): what to persist, and the restore."""

    _kept: Kept

    def _sign_record(self, state: SignState) -> bytes:
        """`state` encoded with the blocks and polka its lock and valid value need after a
        crash: the same synced write makes the lock and what it names durable together."""
        blocks, polka = to_keep(state, self._core, self._blocks)
        kept = self._kept
        if not polka and kept.height == state.height:  # a restart, before the replay
            wanted = (state.valid_round, state.valid_value)
            polka = tuple(v for v in kept.polka if (v.round, v.block_id) == wanted)
        return codec.encode_sign_state(state, blocks, polka)

    def _restored_blocks(self) -> dict[BlockId, tuple[Block, bytes]]:
        """The block cache of a height being begun: the kept blocks if we resume their height."""
        kept = self._kept
        if kept.height != self.height:
            return {}
        return {bid: (block, raw) for bid, block, raw in kept.blocks}

    def _restored_polka(self, now_ms: int) -> list[ev.ReplicaEffect]:
        """Hand the kept prevotes to the core of the height we resume, once, as if they had
        just arrived (the core checks them like any vote)."""
        kept, self._kept = self._kept, Kept()
        if kept.height != self.height or self._core.height != self.height:
            return []
        out: list[ev.ReplicaEffect] = []
        for vote in kept.polka:
            out += self._drive(self._core.handle(VoteReceived(vote), now_ms), now_ms, None)
        return out
