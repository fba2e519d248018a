"""Hand-made decided chains for the oracle's tests: blocks a real `LedgerApp` executed, recorded
as a validator's `CommitBlock` would record them (no certificate: the oracle does not read it)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from consensus import codec
from consensus.interfaces import HeightRecord
from consensus.merkle import merkle_root
from consensus.messages import BlockId
from consensus.replica.block import GENESIS_BLOCK_ID, block_id, encode_block, make_block
from ledger.app import LedgerApp
from ledger.genesis import Genesis
from tests.ledger.support import VALIDATORS, block_time


@attrs.frozen
class Decided:
    height: int
    block_id: BlockId
    record: HeightRecord


class ChainBuilder:
    """Executes blocks on a `LedgerApp` and records them."""

    def __init__(self, genesis: Genesis) -> None:
        self.genesis = genesis
        self.app = LedgerApp(genesis)
        self.prev: BlockId = GENESIS_BLOCK_ID

    def block(
        self,
        txs: Sequence[bytes],
        *,
        time_ms: int | None = None,
        stamp_ms: int | None = None,
        writes: dict[bytes, bytes | None] | None = None,
    ) -> Decided:
        """Block height+1 of `txs` executed at `time_ms` (default: `block_time(height)`), its
        header stamped `stamp_ms` (default: the same); `writes` replace the recorded writes."""
        height = self.app.height + 1
        time_ms = block_time(height) if time_ms is None else time_ms
        execution = self.app.execute_block(height, time_ms, txs)
        block = make_block(
            chain_id=self.genesis.chain_id,
            height=height,
            time_ms=time_ms if stamp_ms is None else stamp_ms,
            prev_block_id=self.prev,
            app_hash=execution.app_hash,
            results_root=merkle_root(execution.result_leaves),
            proposer=VALIDATORS[0].public_key,
            txs=txs,
            last_commit=None,
        )
        record = HeightRecord(
            height=height,
            block=encode_block(block),
            commit=b"",
            app_hash=execution.app_hash,
            writes=execution.writes if writes is None else writes,
            tx_index=execution.tx_index,
            results=codec.packb(list(execution.result_leaves)),
        )
        self.app.apply(execution)
        self.prev = block_id(block.header)
        return Decided(height, self.prev, record)
