"""What a validator keeps durably beside its sign state, so that a crash cannot stall the chain.

Why: a restarted validator resumes its height from its sign state, which holds its lock, its
valid value and the last message it signed; everything else it had received or sent lived in
memory. Two stalls followed, with no fault beyond the model:
- the block a lock names and the 2f+1 prevotes that justify re-proposing it (line 28 asks for
  them) died with the last validators holding them: a core with more than 1/3 of the power
  locked on it could neither re-propose it nor form a polka for anything else (simulator seeds
  108 and 123; in seed 259 the blocks survived but the round-0 polka did not, and validators
  waiting for 2f+1 prevotes of any value never started a timeout);
- a validator that precommitted (nil) and crashed before its precommit left re-sends only that
  precommit: its prevote is gone, and validators that had not received it wait in the prevote
  step for 2f+1 prevotes that can no longer exist (tests/consensus/replica/test_kept.py).
CometBFT keeps the same data in its consensus WAL for the same reasons.

So every persisted sign state carries (`encode_sign_state(state, blocks, prevotes)`, in the
same synced write): the encoded blocks of its locked and valid values, the prevotes for its
valid value in its valid round, and our own prevote of its round. On restart the blocks go back
into the block cache and the prevotes into the core, as if they had just arrived; status gossip
then serves them to whoever lacks them.
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
    prevotes: tuple[Vote, ...] = ()


def wanted(vote: Vote, state: SignState, me: bytes | None) -> bool:
    """Is `vote` one `state` keeps: part of the polka of its valid value, or our own prevote of
    its round? Never an own vote that `state`'s guard does not cover yet: the kept data is read
    after the whole step, and a vote signed after `state` must not outlive a crash that loses
    the guard covering it (a restart could then sign another vote in its slot)."""
    if vote.type is not VoteType.PREVOTE or vote.height != state.height:
        return False
    if vote.validator == me:
        last = state.last_signed
        if last is None or (last.height, last.round, last.step) < (
            vote.height,
            vote.round,
            vote.type.step,
        ):
            return False
    polka = state.valid_value is not None and (vote.round, vote.block_id) == (
        state.valid_round,
        state.valid_value,
    )
    return polka or (vote.validator == me and vote.round == state.round)


def to_keep(
    state: SignState,
    core: ConsensusCore,
    blocks: dict[BlockId, tuple[Block, bytes]],
    me: bytes | None,
    pending: tuple[Vote, ...] = (),
) -> tuple[tuple[bytes, ...], tuple[Vote, ...]]:
    """(encoded blocks, prevotes) to persist with `state`: the blocks of its locked and valid
    values that we hold, and the `wanted` prevotes the core holds or that are `pending` (kept
    by the previous incarnation and not yet handed back to the core)."""
    raw: list[bytes] = []
    for value in (state.locked_value, state.valid_value):
        held = blocks.get(value) if value is not None else None
        if held is not None and held[1] not in raw:
            raw.append(held[1])
    found: dict[Vote, None] = {}
    if state.height == core.height:
        rounds = {state.round} | ({state.valid_round} if state.valid_value is not None else set())
        for rnd in sorted(rounds):
            found.update((v, None) for v in core.votes(rnd, VoteType.PREVOTE))
    found.update((v, None) for v in pending)
    return tuple(raw), tuple(v for v in found if wanted(v, state, me))


def restore_kept(
    state: SignState, raw_blocks: tuple[bytes, ...], prevotes: tuple[Vote, ...], max_bytes: int
) -> Kept:
    """The kept data of a stored sign state; DecodeError if a block does not decode or names
    neither the locked nor the valid value of `state` (a corrupt store, not a peer's word)."""
    named = {state.locked_value, state.valid_value} - {None}
    blocks = []
    for raw in raw_blocks:
        block = decode_block(raw, max_bytes)
        bid = block_id(block.header)
        if bid not in named or block.header.height != state.height:
            raise DecodeError("a kept block is neither the locked nor the valid value")
        blocks.append((bid, block, raw))
    return Kept(state.height, tuple(blocks), prevotes)


class Keeping(ReplicaParts):
    """The replica's side of it (mixed into Replica): what to persist, and the restore."""

    _kept: Kept

    def _sign_record(self, state: SignState) -> bytes:
        """`state` encoded with the blocks and prevotes kept with it: the same synced write
        makes the lock and what it needs durable together. While a restart re-sends its last
        vote, the kept prevotes are not back in the core yet: they are kept again."""
        kept = self._kept
        pending = kept.prevotes if kept.height == state.height else ()
        blocks, prevotes = to_keep(state, self._core, self._blocks, self._key, pending)
        return codec.encode_sign_state(state, blocks, prevotes)

    def _restored_blocks(self) -> dict[BlockId, tuple[Block, bytes]]:
        """The block cache of a height being begun: the kept blocks if we resume their height."""
        kept = self._kept
        if kept.height != self.height:
            return {}
        return {bid: (block, raw) for bid, block, raw in kept.blocks}

    def _restored_prevotes(self, now_ms: int) -> list[ev.ReplicaEffect]:
        """Hand the kept prevotes to the core of the height we resume, once, as if they had
        just arrived (the core checks them like any vote)."""
        kept, self._kept = self._kept, Kept()
        if kept.height != self.height or self._core.height != self.height:
            return []
        out: list[ev.ReplicaEffect] = []
        for vote in kept.prevotes:
            out += self._drive(self._core.handle(VoteReceived(vote), now_ms), now_ms, None)
        return out
