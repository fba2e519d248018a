"""Driving the consensus core: heights, the core's questions, decisions and commits.

A mixin of `Replica` (see `consensus.replica.base`). `_drive` turns the core's effects into
replica effects in the core's order, and answers its questions (a value to propose, valid(v),
a decision) only after the rest of the batch, so that a decision's commit and the next height's
first effects never jump ahead of a persist the core emitted before them. `_commit` executes a
final block through the application and emits one `CommitBlock`; the application is updated
right after, and the driver stores the block before executing any later effect.

Blocks are executed before they are voted on: a proposer executes the block it builds, and a
validator executes a proposed block to answer valid(v) (the header must commit to the outcome).
Executions are cached by block id for the height, so a decided block is applied, not executed
again. A block stamped too far ahead of this validator's clock gets its verdict when the clock
catches up (`BLOCK_TIME_TIMER`); see `consensus.replica.chain` on block time.
"""

from __future__ import annotations

from collections.abc import Sequence

from consensus import codec
from consensus import events as ce
from consensus.events import ProposalValueSupplied, RejectCode, ValidityVerdict
from consensus.interfaces import BlockExecution, HeightRecord
from consensus.messages import BlockId, Commit, Proposal, Vote
from consensus.replica import events as ev
from consensus.replica.base import (
    BLOCK_TIME_TIMER,
    EMPTY_BLOCK_TIMER,
    MAX_CACHED_BLOCKS,
    ReplicaParts,
)
from consensus.replica.block import Block, block_id, encode_block
from consensus.replica.chain import build_block, check_block, check_execution, tip_of
from consensus.replica.wire import EvidenceMsg, ProposalMsg, VoteMsg, encode_wire

BENIGN_REJECTIONS = frozenset({RejectCode.OTHER_HEIGHT, RejectCode.FUTURE_ROUND})
"""Core rejections honest gossip produces (other heights, far-ahead rounds): not misbehaviour."""
_QUESTIONS = (ce.RequestProposalValue, ce.RequestValidity, ce.Decide)
"""The core's questions (a tuple: `A | B` in an isinstance call builds a union on every call)."""


class Progress(ReplicaParts):
    """Heights, the core's effects, block building, validity and commits."""

    # ------------------------------------------------------------------ heights

    def _begin_height(self, now_ms: int, *, force: bool = False) -> list[ev.ReplicaEffect]:
        """Start consensus at `self.height`, unless waiting for transactions first."""
        if (
            not force
            and not self.config.create_empty_blocks
            and len(self._mempool) == 0
            and not self._future.has_proposal_for(self.height)
        ):
            if self._waiting_since_ms is None:
                self._waiting_since_ms = now_ms
            deadline = self._waiting_since_ms + self.config.empty_block_interval_ms
            return [ev.SetTimer(deadline, EMPTY_BLOCK_TIMER)]
        self._waiting_since_ms = None
        self._blocks = self._restored_blocks()
        self._executions = {}
        self._early = {}
        self._unsent = {}
        self._fetch_after = {}
        out = self._drive(self._core.start_height(self.height, now_ms), now_ms, None)
        out.append(ev.BroadcastPayload(encode_wire(self._status())))
        for peer, msg in self._future.release(self.height):
            out += self._on_message(peer, msg, now_ms)
        return out

    def _commit(
        self, block: Block, raw: bytes, commit: Commit, now_ms: int
    ) -> list[ev.ReplicaEffect]:
        """Execute `block` (final by `commit`), persist it, and move to the next height."""
        height = block.header.height
        assert height == self._tip.height + 1, "committing out of order"
        execution = self._execution(block_id(block.header), block)  # judged valid(v) already
        assert execution.app_hash == block.header.app_hash, "committing an invalid block"
        record = HeightRecord(
            height=height,
            block=raw,
            commit=codec.encode_commit(commit),
            app_hash=execution.app_hash,
            writes=execution.writes,
            tx_index=execution.tx_index,
            results=codec.packb(list(execution.result_leaves)),
        )
        out: list[ev.ReplicaEffect] = [
            ev.CommitBlock(record, block_id(block.header), execution.results)
        ]
        self._app.apply(execution)  # the driver stores `record` before any later effect
        self._mempool.update(
            height, block.header.time_ms, [result.tx_id for result in execution.results]
        )
        self._pool.mark_committed(block.evidence, height)
        self._tip = tip_of(block, commit)
        self._catchup.committed(height)
        fetched = self._catchup.take(height + 1)
        if fetched is not None:
            more = self._commit_fetched(fetched, now_ms)
            if self._tip.height > height:
                return out + more  # that commit began the next height
            out += more  # the fetched block was refused: begin the height ourselves
        out += self._begin_height(now_ms)
        out += self._request_blocks(now_ms)
        return out

    # ------------------------------------------------------------------ the core

    def _drive(
        self, effects: Sequence[ce.Effect], now_ms: int, peer: bytes | None
    ) -> list[ev.ReplicaEffect]:
        """Translate the core's effects, answering its questions at once when we can."""
        out: list[ev.ReplicaEffect] = []
        questions: list[object] = []  # answered after the batch, so its effects stay in order
        for effect in effects:
            if isinstance(effect, _QUESTIONS):
                questions.append(effect)
            elif isinstance(effect, ce.PersistSignState):
                out.append(ev.PersistSignState(self._sign_record(effect.state)))
            elif isinstance(effect, ce.Broadcast):
                out += self._broadcast_signed(effect.message, now_ms)
            elif isinstance(effect, ce.ScheduleTimeout):
                timer = ev.ConsensusTimer(effect.height, effect.round, effect.step)
                out.append(ev.SetTimer(effect.deadline_ms, timer))
            elif isinstance(effect, ce.ReportEvidence):
                if self._pool.add(effect.evidence):
                    out.append(ev.EvidenceFound(effect.evidence))
                    out.append(ev.BroadcastPayload(encode_wire(EvidenceMsg(effect.evidence))))
            elif isinstance(effect, ce.InputRejected):
                if peer is not None and effect.code not in BENIGN_REJECTIONS:
                    out.append(ev.PeerMisbehaved(peer, effect.reason))
            else:
                raise AssertionError(f"unknown core effect {effect!r}")
        for question in questions:
            if isinstance(question, ce.RequestProposalValue):
                out += self._supply_proposal(question.height, question.round, now_ms)
            elif isinstance(question, ce.RequestValidity):
                out += self._answer_validity(question.height, question.block_id, now_ms)
            elif isinstance(question, ce.Decide):
                out += self._on_decide(question.height, question.block_id, question.commit, now_ms)
        return out

    def _broadcast_signed(self, message: Proposal | Vote, now_ms: int) -> list[ev.ReplicaEffect]:
        if isinstance(message, Vote):
            return [ev.BroadcastPayload(encode_wire(VoteMsg(message)))]
        held = self._blocks.get(message.block_id)
        if held is not None:
            return [ev.BroadcastPayload(encode_wire(ProposalMsg(message, held[1])))]
        # Re-proposing a valid value whose block we lost in a crash: fetch it from the round
        # where it was proposed, and send the proposal when it arrives.
        if len(self._unsent) < MAX_CACHED_BLOCKS:
            self._unsent[message.block_id] = message
        rnd = message.round if message.valid_round < 0 else message.valid_round
        return self._fetch_round(rnd, self._peers.connected(), now_ms)

    def _supply_proposal(self, height: int, rnd: int, now_ms: int) -> list[ev.ReplicaEffect]:
        if height != self.height or self._key is None:
            return []
        block, execution = build_block(
            chain_id=self.chain_id,
            tip=self._tip,
            app=self._app,
            mempool=self._mempool,
            pool=self._pool,
            proposer=self._key,
            config=self.config,
            now_ms=now_ms,
        )
        bid = block_id(block.header)
        self._cache_block(bid, block, encode_block(block))
        self._executions[bid] = execution
        event = ProposalValueSupplied(height, rnd, bid)
        return self._drive(self._core.handle(event, now_ms), now_ms, None)

    def _answer_validity(self, height: int, bid: BlockId, now_ms: int) -> list[ev.ReplicaEffect]:
        held = self._blocks.get(bid)
        if held is None or height != self.height:
            return []  # answered when the block arrives (see _on_proposal)
        answer_at_ms = held[0].header.time_ms - self.config.max_clock_drift_ms
        if answer_at_ms > now_ms:  # stamped ahead of our clock: judge it when we get there
            self._early[bid] = answer_at_ms
            return [ev.SetTimer(answer_at_ms, BLOCK_TIME_TIMER)]
        self._early.pop(bid, None)
        valid = self._validity(held[0]) is None
        event = ValidityVerdict(height, bid, valid)
        return self._drive(self._core.handle(event, now_ms), now_ms, None)

    def _answer_early(self, now_ms: int) -> list[ev.ReplicaEffect]:
        """The block-time timer: answer valid(v) for the blocks whose time has come."""
        out: list[ev.ReplicaEffect] = []
        for bid, answer_at_ms in sorted(self._early.items(), key=lambda item: item[1]):
            if answer_at_ms <= now_ms and bid in self._early:
                out += self._answer_validity(self.height, bid, now_ms)
        return out

    def _validity(self, block: Block) -> str | None:
        reason = check_block(
            block,
            chain_id=self.chain_id,
            tip=self._tip,
            app=self._app,
            pool=self._pool,
            validators=self.validators,
            scheme=self.scheme,
            config=self.config,
        )
        if reason is not None:
            return reason
        return check_execution(block.header, self._execution(block_id(block.header), block))

    def _execution(self, bid: BlockId, block: Block) -> BlockExecution:
        """The execution of `block` (one of this height's candidates), cached by block id."""
        execution = self._executions.get(bid)
        if execution is None:
            header = block.header
            execution = self._app.execute_block(header.height, header.time_ms, block.txs)
            if len(self._executions) < MAX_CACHED_BLOCKS + 1:
                self._executions[bid] = execution
        return execution

    def _on_decide(
        self, height: int, bid: BlockId, commit: Commit, now_ms: int
    ) -> list[ev.ReplicaEffect]:
        held = self._blocks.get(bid)
        if height != self.height or held is None:
            return []  # the core decides only with the proposal, hence with the block
        return self._commit(held[0], held[1], commit, now_ms)

    def _cache_block(self, bid: BlockId, block: Block, raw: bytes) -> None:
        if bid in self._blocks:
            return
        if len(self._blocks) >= MAX_CACHED_BLOCKS:  # only evicting needs the lock and valid value
            state = self._core.sign_state
            keep = {state.locked_value, state.valid_value}
            while len(self._blocks) >= MAX_CACHED_BLOCKS:
                victim = next((k for k in self._blocks if k not in keep), None)
                if victim is None:
                    break
                del self._blocks[victim]
                self._executions.pop(victim, None)
                self._early.pop(victim, None)
        self._blocks[bid] = (block, raw)
