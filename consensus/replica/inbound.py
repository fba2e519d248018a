"""Inbound peer traffic: consensus messages, status, requests, catch-up, evidence, transactions.

A mixin of `Replica` (see `consensus.replica.base`): every handler here takes one
decoded message from an authenticated validator peer and returns effects. Peer input is hostile:
anything malformed or unverifiable becomes `PeerMisbehaved` and leaves state unchanged; stale or
duplicate input (normal under gossip) is dropped silently.
"""

from __future__ import annotations

from consensus import codec
from consensus.codec import DecodeError
from consensus.commit import CommitError, verify_commit
from consensus.events import InputRejected, ProposalReceived, VoteReceived
from consensus.messages import BlockId, Proposal, Step, Vote, VoteType
from consensus.replica import events as ev
from consensus.replica import serving
from consensus.replica.base import CATCHUP_TIMER, MAX_PENDING_FETCHES, ReplicaParts
from consensus.replica.block import Block, block_id, decode_block
from consensus.replica.catchup import Fetched
from consensus.replica.evidence import check_evidence
from consensus.replica.wire import (
    CommittedBlock,
    EvidenceMsg,
    GetBlocks,
    GetRound,
    ProposalMsg,
    StatusMsg,
    TxsMsg,
    VoteMsg,
    WireMessage,
    decode_wire,
    encode_wire,
)


class Inbound(ReplicaParts):
    """Handlers of peer messages and transactions (mixed into Replica)."""

    def _on_payload(self, peer: bytes, payload: bytes, now_ms: int) -> list[ev.ReplicaEffect]:
        if not self._peers.is_validator(peer):
            return [ev.PeerMisbehaved(peer, "message from a non-validator")]
        try:
            if self._decoded is None:
                msg = decode_wire(payload, self.config.max_message_bytes)
            else:
                msg = self._decoded.wire(payload, self.config.max_message_bytes, decode_wire)
        except DecodeError as exc:
            return [ev.PeerMisbehaved(peer, f"undecodable message: {exc}")]
        return self._on_message(peer, msg, now_ms)

    def _decode_block(self, data: bytes) -> Block:
        """`decode_block` under our size limit (through the shared memo, if any)."""
        if self._decoded is None:
            return decode_block(data, self.config.max_message_bytes)
        return self._decoded.block(data, self.config.max_message_bytes, decode_block)

    def _on_message(self, peer: bytes, msg: WireMessage, now_ms: int) -> list[ev.ReplicaEffect]:
        if isinstance(msg, (ProposalMsg, VoteMsg)):
            return self._on_consensus(peer, msg, now_ms)
        if isinstance(msg, StatusMsg):
            return self._on_status(peer, msg, now_ms)
        if isinstance(msg, GetRound):
            if msg.height != self.height or self._core.height != self.height:
                return []
            if msg.round not in self._core.rounds():
                return []
            found = serving.round_messages(self._core, msg.round, self._block_bytes)
            return [ev.SendTo(peer, encode_wire(m)) for m in found]
        if isinstance(msg, GetBlocks):
            found = serving.committed_blocks(
                self._store, msg.start, msg.count, self.config.max_catchup_batch
            )
            return [ev.SendTo(peer, encode_wire(m)) for m in found]
        if isinstance(msg, CommittedBlock):
            return self._on_committed_block(peer, msg, now_ms)
        if isinstance(msg, TxsMsg):
            return self._on_txs(msg.txs, now_ms)
        return self._on_evidence(peer, msg, now_ms)

    def _on_consensus(
        self, peer: bytes, msg: ProposalMsg | VoteMsg, now_ms: int
    ) -> list[ev.ReplicaEffect]:
        value: Proposal | Vote = msg.proposal if isinstance(msg, ProposalMsg) else msg.vote
        height, current = value.height, self.height
        if height < current or height > current + self.config.max_future_heights:
            return []  # late, or too far ahead to hold
        if height > current or self._waiting():
            self._future.add(height, peer, msg)
            if self._waiting() and isinstance(msg, ProposalMsg) and height == current:
                return self._begin_height(now_ms, force=True)
            return []
        if isinstance(msg, VoteMsg):
            effects = self._core.handle(VoteReceived(msg.vote), now_ms)
            out = self._drive(effects, now_ms, peer) if effects else []
            if self.height == height:
                out += self._fetch_missing(msg.vote.round, now_ms)
            return out
        return self._on_proposal(peer, msg, now_ms)

    def _on_proposal(self, peer: bytes, msg: ProposalMsg, now_ms: int) -> list[ev.ReplicaEffect]:
        proposal = msg.proposal
        try:
            block = self._decode_block(msg.block)
        except DecodeError as exc:
            return [ev.PeerMisbehaved(peer, f"undecodable block: {exc}")]
        if block_id(block.header) != proposal.block_id or block.header.height != proposal.height:
            return [ev.PeerMisbehaved(peer, "proposal does not name the block it carries")]
        fresh = proposal.block_id not in self._blocks
        if fresh:
            self._cache_block(proposal.block_id, block, msg.block)
        effects = self._core.handle(ProposalReceived(proposal), now_ms)
        if fresh and any(isinstance(e, InputRejected) for e in effects):
            self._blocks.pop(proposal.block_id, None)
        out = self._drive(effects, now_ms, peer)
        if self.height != proposal.height:
            return out  # it completed a decision
        if fresh and self._core.awaits_validity(proposal.block_id):
            # The core asked valid(v) when we lacked the block (our own re-proposal of a valid
            # value whose block a restart lost) and asks once per block: answer now.
            out += self._answer_validity(self.height, proposal.block_id, now_ms)
        unsent = self._unsent.pop(proposal.block_id, None)
        if unsent is not None:
            out += self._broadcast_signed(unsent, now_ms)
        if proposal.valid_round >= 0 and not self._has_quorum(
            proposal.valid_round, VoteType.PREVOTE, proposal.block_id
        ):  # line 28 waits for the round-vr polka: ask the proposer, who saw it, and the sender
            out += self._fetch_round(
                proposal.valid_round, self._polka_holders(proposal, [peer]), now_ms
            )
        return out

    def _polka_holders(self, proposal: Proposal, others: list[bytes]) -> list[bytes]:
        """Whom to ask for the polka of `proposal`'s valid round: its proposer (an honest one
        set validRound on seeing 2f+1 prevotes, which it holds, conflicting ones included) and
        `others`; never ourselves."""
        return sorted({proposal.proposer, *others} - {self._key})

    def _has_quorum(self, rnd: int, vote_type: VoteType, bid: BlockId) -> bool:
        """2f+1 votes of `vote_type` for `bid` in round `rnd`, as the core counts them."""
        return self._core.has_quorum(rnd, vote_type, bid)

    def _fetch_missing(self, rnd: int, now_ms: int) -> list[ev.ReplicaEffect]:
        """2f+1 precommits for a block whose proposal we lack: ask those who precommitted."""
        if self._core.proposal(rnd) is not None or self._core.decided is not None:
            return []
        by_value: dict[BlockId, list[bytes]] = {}
        for vote in self._core.votes(rnd, VoteType.PRECOMMIT):
            if vote.block_id is not None:
                by_value.setdefault(vote.block_id, []).append(vote.validator)
        for bid, voters in sorted(by_value.items()):
            if self._has_quorum(rnd, VoteType.PRECOMMIT, bid):
                return self._fetch_round(rnd, sorted(voters), now_ms)
        return []

    def _gossip_tick(self, now_ms: int) -> list[ev.ReplicaEffect]:
        """Pulls on the status timer: blocks of decided rounds; the polka our round's proposal
        names while line 28 waits for it (or we have sat in the round for a whole interval);
        and, once we have sat in one round for a whole status interval, the votes of our round
        that a peer at our height holds (or may hold: it is in a later round)."""
        core = self._core
        if core.height != self.height or self._waiting() or core.decided is not None:
            self._tick_view = None
            return []
        out: list[ev.ReplicaEffect] = []
        for rnd in core.rounds():
            out += self._fetch_missing(rnd, now_ms)
        view = (self.height, core.round)
        stuck, self._tick_view = self._tick_view == view, view
        turn = now_ms // self.config.status_interval_ms  # one peer per interval, in turn
        here = self._peers.at_height(self.height)
        proposal = core.proposal(core.round)
        if (
            proposal is not None
            and proposal.valid_round >= 0
            and (stuck or core.step is Step.PROPOSE)
            and not self._has_quorum(proposal.valid_round, VoteType.PREVOTE, proposal.block_id)
        ):  # line 28 waits for the polka the proposal names (an equivocator may hide it: we
            # may hold its other vote); retried every interval while it waits, in turn
            others = [here[turn % len(here)]] if here else []
            holders = self._polka_holders(proposal, others)
            out += self._fetch_round(proposal.valid_round, holders, now_ms)
        if not stuck:
            return out
        holders = []
        for peer in here:
            status = self._peers.status(peer)
            assert status is not None
            if status.round > core.round or serving.holds_more(core, self._peers, status):
                holders.append(peer)
        if holders:
            out += self._fetch_round(core.round, [holders[turn % len(holders)]], now_ms)
        return out

    def _fetch_round(self, rnd: int, peers: list[bytes], now_ms: int) -> list[ev.ReplicaEffect]:
        """Ask `peers` for round `rnd`: each peer at most once per round and `fetch_retry_ms`
        (a later pull for another reason may still ask a peer not yet asked in that window)."""
        if len(self._fetch_after) >= MAX_PENDING_FETCHES:  # forget fetches that may be retried
            self._fetch_after = {r: f for r, f in self._fetch_after.items() if f[0] > now_ms}
        found = self._fetch_after.get(rnd)
        if found is None or found[0] <= now_ms:
            if len(self._fetch_after) >= MAX_PENDING_FETCHES:
                return []
            found = (now_ms + self.config.fetch_retry_ms, set())
            self._fetch_after[rnd] = found
        asked = found[1]
        fresh = [p for p in peers if p not in asked and self._peers.is_connected(p)]
        asked.update(fresh)
        payload = encode_wire(GetRound(self.height, rnd))
        return [ev.SendTo(p, payload) for p in fresh]

    def _on_status(self, peer: bytes, status: StatusMsg, now_ms: int) -> list[ev.ReplicaEffect]:
        stuck = self._peers.record_status(peer, status)
        out: list[ev.ReplicaEffect] = []
        if stuck and not self._waiting() and self._core.height == self.height:
            pushed = serving.push_for_status(self._core, self._peers, status, self._block_bytes)
            out += [ev.SendTo(peer, encode_wire(m)) for m in pushed]
        return out + self._request_blocks(now_ms)

    def _request_blocks(self, now_ms: int) -> list[ev.ReplicaEffect]:
        candidates = []
        for peer in self._peers.ahead_of(self.height):
            status = self._peers.status(peer)
            assert status is not None
            candidates.append((peer, status.last_committed))
        request = self._catchup.next_request(self.height, candidates, now_ms)
        if request is None:
            return []
        peer, get, deadline = request
        return [ev.SendTo(peer, encode_wire(get)), ev.SetTimer(deadline, CATCHUP_TIMER)]

    def _on_committed_block(
        self, peer: bytes, msg: CommittedBlock, now_ms: int
    ) -> list[ev.ReplicaEffect]:
        try:
            block = self._decode_block(msg.block)
            commit = codec.decode_commit(msg.commit)
        except DecodeError as exc:
            return [ev.PeerMisbehaved(peer, f"undecodable committed block: {exc}")]
        height = block.header.height
        if height <= self._tip.height or height >= self.height + self.config.max_catchup_batch:
            return []
        try:
            verify_commit(
                commit, self.validators, self.chain_id, block_id(block.header), self.scheme, height
            )
        except CommitError as exc:
            return [ev.PeerMisbehaved(peer, f"committed block without a valid commit: {exc}")]
        fetched = Fetched(block, msg.block, commit, peer)
        if height > self.height:
            self._catchup.stash(self.height, fetched)
            return []
        return self._commit_fetched(fetched, now_ms)

    def _commit_fetched(self, fetched: Fetched, now_ms: int) -> list[ev.ReplicaEffect]:
        reason = self._validity(fetched.block)
        if reason is not None:  # 2f+1 signed it, yet it is invalid here: report, do not apply
            return [ev.PeerMisbehaved(fetched.peer, f"committed block invalid here: {reason}")]
        return self._commit(fetched.block, fetched.raw, fetched.commit, now_ms)

    def _on_evidence(self, peer: bytes, msg: EvidenceMsg, now_ms: int) -> list[ev.ReplicaEffect]:
        if self._pool.known(msg.evidence):
            return []
        reason = check_evidence(
            msg.evidence,
            chain_id=self.chain_id,
            validators=self.validators,
            scheme=self.scheme,
            height=self.height + 1,
            max_age_heights=self.config.evidence_max_age_heights,
        )
        if reason is not None:
            return [ev.PeerMisbehaved(peer, reason)]
        return [ev.EvidenceFound(msg.evidence)] if self._pool.add(msg.evidence) else []
