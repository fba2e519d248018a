"""What a replica sends to help others: its status, pushes, and answers to requests.

Pure functions of the replica's current state (the core's view of the current height, the block
cache, the store's committed blocks). They only read; the replica turns their results into
`SendTo` / `BroadcastPayload` effects. Answers are bounded: one round's messages, or at most
`max_batch` committed blocks.
"""

from __future__ import annotations

from collections.abc import Callable

from consensus.core import ConsensusCore
from consensus.interfaces import Store
from consensus.messages import Proposal, Vote, VoteType
from consensus.replica.gossip import PeerTable
from consensus.replica.wire import (
    CommittedBlock,
    ProposalMsg,
    StatusMsg,
    VoteMsg,
    WireMessage,
    bitmap,
    bitmap_has,
)

BlockBytes = Callable[[bytes], bytes | None]  # block id -> encoded block, if held


def make_status(
    core: ConsensusCore, peers: PeerTable, last_committed: int, height: int
) -> StatusMsg:
    """Our status for the current round of `height` (the core may still sit on the last one)."""
    current = core.height == height
    rnd = core.round if current else 0

    def indices(vote_type: VoteType) -> bytes:
        if not current:
            return b""
        votes = core.votes(rnd, vote_type)
        if not votes:
            return b""  # what `bitmap` makes of no indices (a new round: the common case)
        found = [peers.index_of(v.validator) for v in votes]
        return bitmap(sorted(i for i in found if i is not None))

    return StatusMsg(
        height=height,
        round=rnd,
        step=core.step if current else core.step.PROPOSE,
        last_committed=last_committed,
        has_proposal=current and core.proposal(rnd) is not None,
        prevotes=indices(VoteType.PREVOTE),
        precommits=indices(VoteType.PRECOMMIT),
    )


def proposal_msg(proposal: Proposal, block_bytes: BlockBytes) -> ProposalMsg | None:
    raw = block_bytes(proposal.block_id)
    return None if raw is None else ProposalMsg(proposal, raw)


def round_messages(core: ConsensusCore, rnd: int, block_bytes: BlockBytes) -> list[WireMessage]:
    """The proposal (with its block) and all votes we hold for round `rnd` of our height."""
    out: list[WireMessage] = []
    proposal = core.proposal(rnd)
    if proposal is not None and (msg := proposal_msg(proposal, block_bytes)) is not None:
        out.append(msg)
    for vote_type in (VoteType.PREVOTE, VoteType.PRECOMMIT):
        out.extend(VoteMsg(v) for v in core.votes(rnd, vote_type))
    return out


def push_for_status(
    core: ConsensusCore, peers: PeerTable, status: StatusMsg, block_bytes: BlockBytes
) -> list[WireMessage]:
    """What a peer at our height lacks, judging by its status.

    Whatever its round, it gets the proposal and the votes of *its* round that its status
    does not show (a validator ahead in round so re-sends its earlier-round precommit to a
    laggard that waits for it, malachite#850); a peer behind us also gets everything of our
    round, which may let it skip there (line 55). At most one proposal and 4n votes."""
    if status.height != core.height or core.decided is not None:
        return []
    out = lacking(core, peers, status, block_bytes)
    if status.round < core.round:
        out += round_messages(core, core.round, block_bytes)
    return out


def lacking(
    core: ConsensusCore, peers: PeerTable, status: StatusMsg, block_bytes: BlockBytes
) -> list[WireMessage]:
    """The proposal and votes of the peer's current round that we hold and its status lacks."""
    out: list[WireMessage] = []
    proposal = core.proposal(status.round)
    if proposal is not None and not status.has_proposal:
        msg = proposal_msg(proposal, block_bytes)
        if msg is not None:
            out.append(msg)
    for vote_type in (VoteType.PREVOTE, VoteType.PRECOMMIT):
        out.extend(
            VoteMsg(v) for v in core.votes(status.round, vote_type) if peers.lacks_vote(status, v)
        )
    return out


def holds_more(core: ConsensusCore, peers: PeerTable, status: StatusMsg) -> bool:
    """True if a peer at our height and round shows votes of this round that we lack."""
    if status.height != core.height or status.round != core.round:
        return False
    shown = ((VoteType.PREVOTE, status.prevotes), (VoteType.PRECOMMIT, status.precommits))
    for vote_type, bits in shown:
        ours = {peers.index_of(v.validator) for v in core.votes(core.round, vote_type)}
        if any(bitmap_has(bits, i) for i in range(peers.size) if i not in ours):
            return True
    return False


def own_messages(core: ConsensusCore, block_bytes: BlockBytes) -> list[WireMessage]:
    """Our own signed messages of the current height, for a peer that (re)connects."""
    out: list[WireMessage] = []
    for message in core.own_messages():
        if isinstance(message, Vote):
            out.append(VoteMsg(message))
        elif (msg := proposal_msg(message, block_bytes)) is not None:
            out.append(msg)
    return out


def committed_blocks(store: Store, start: int, count: int, max_batch: int) -> list[WireMessage]:
    """Committed blocks start.. with their commits, as far as we have them."""
    out: list[WireMessage] = []
    for height in range(start, min(start + min(count, max_batch), store.last_height() + 1)):
        block, commit = store.load_block(height), store.load_commit(height)
        if block is None or commit is None:
            break
        out.append(CommittedBlock(block, commit))
    return out
