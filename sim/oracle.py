"""Validity, deterministic execution and the ledger's invariants, judged by an independent app.

The oracle keeps its own `LedgerApp`, fed only with the blocks correct validators decide (the
first decision at each height). For each it checks what the paper calls valid(v) from the
outside: the block decodes, extends the previously decided block at the right height and chain,
and its transactions form a valid block at its time; then it executes the block itself and
requires the header's app hash (the state after the block) and results root, and the app hash
the validators reported, and checks the
ledger's invariants (per currency: balances plus pending redemptions equal minted minus
redeemed, nothing negative) on the resulting state.
"""

from __future__ import annotations

from consensus.codec import DecodeError
from consensus.interfaces import HeightRecord
from consensus.messages import BlockId
from consensus.replica.block import GENESIS_BLOCK_ID, block_id, decode_block
from consensus.replica.chain import check_execution
from ledger.app import LedgerApp
from ledger.invariants import LedgerInvariantError, check_ledger_invariants
from sim.checkers import Violation
from sim.result import Outcome
from sim.stack import World

MAX_BLOCK_BYTES = 8_000_000


class LedgerOracle:
    """Replays decided blocks on a private ledger and checks each one."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._app = LedgerApp(world.genesis, world.scheme)
        self._last_id: BlockId = GENESIS_BLOCK_ID
        self.heights = 0

    def on_decided(self, height: int, decided_id: BlockId, record: HeightRecord) -> None:
        """Judge block `height` (called once per height, in height order)."""
        if height != self._app.height + 1:
            return
        fail = f"validity at height {height}: "
        try:
            block = decode_block(record.block, MAX_BLOCK_BYTES)
        except DecodeError as exc:
            raise Violation(Outcome.SAFETY, fail + f"the block does not decode ({exc})") from None
        header = block.header
        if block_id(header) != decided_id:
            raise Violation(Outcome.SAFETY, fail + "the stored block is not the decided one")
        if header.height != height or header.chain_id != self._world.chain_id:
            raise Violation(Outcome.SAFETY, fail + "wrong height or chain in the header")
        if header.prev_block_id != self._last_id:
            raise Violation(Outcome.SAFETY, fail + "the block does not extend the chain")
        reason = self._app.validate_block_txs(height, header.time_ms, block.txs)
        if reason is not None:
            raise Violation(Outcome.SAFETY, fail + f"invalid transactions ({reason})")
        execution = self._app.execute_block(height, header.time_ms, block.txs)
        reason = check_execution(header, execution)
        if reason is not None:
            raise Violation(Outcome.SAFETY, fail + reason)
        if execution.app_hash != record.app_hash:
            raise Violation(
                Outcome.SAFETY,
                f"determinism at height {height}: the validators' app hash differs from a "
                "fresh execution of the block",
            )
        self._app.apply(execution)
        try:
            check_ledger_invariants(self._app.state)
        except LedgerInvariantError as exc:
            raise Violation(Outcome.SAFETY, f"ledger invariant at height {height}: {exc}") from None
        self._last_id = decided_id
        self.heights = height
