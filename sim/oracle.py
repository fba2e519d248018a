"""The ledger's judge: every decided block replayed through the independent reference model.

The oracle is fed the blocks correct validators decide (the first decision at each height, in
order). For each it checks, apart from the ledger's code:

- valid(v) from the outside: the block decodes, is the decided one, extends the previously
  decided block at the right height, chain and a later time, and the reference model
  (`sim.reference`) accepts every transaction in it at its time (decoding, chain rules,
  signature, validity window);
- outcomes: the model executes the block; every result (tx_id and code, in block order) must
  equal the validators' stored result leaves, and the header's results root must be the
  RFC 6962 root of the model's leaves;
- state: the validators' writes of the height must hash to the header's app hash (the state
  after the block), and that state, read into the model's terms (`sim.observed`), must equal
  the model's: every balance, supply (minted, redeemed, pending) per currency, allowance,
  participant, role, pending redemption and used reference;
- the invariants: the model's own accounting rules and the ledger's
  (`ledger.invariants`, on the validators' state).

It then hands the block's outcomes to the client-level exactly-once checker
(`sim.exactly_once`), which also hears what simulated clients saw final. Before this oracle,
the checker re-executed blocks with the same `LedgerApp` it judged, so a bug that applied a
transaction twice kept every invariant and passed.
"""

from __future__ import annotations

import collections

import msgpack

from consensus.codec import DecodeError
from consensus.crypto import SignatureScheme
from consensus.interfaces import HeightRecord
from consensus.merkle import merkle_root
from consensus.messages import BlockId
from consensus.replica.block import GENESIS_BLOCK_ID, Block, block_id, decode_block
from ledger.genesis import Genesis
from ledger.invariants import LedgerInvariantError, check_ledger_invariants
from sim.checkers import Violation
from sim.exactly_once import Committed, ExactlyOnce
from sim.observed import ObservedState
from sim.reference import Outcome as ModelOutcome
from sim.reference import ReferenceLedger, Refused
from sim.result import Outcome

MAX_BLOCK_BYTES = 8_000_000


class LedgerOracle:
    """Replays decided blocks through the reference model and compares (module docstring)."""

    def __init__(
        self, genesis: Genesis, scheme: SignatureScheme, *, judge_clients: bool = True
    ) -> None:
        self._chain_id = genesis.chain_id
        self.model = ReferenceLedger(genesis, scheme)
        self.observed = ObservedState()
        self.clients = ExactlyOnce(enabled=judge_clients)
        self._last_id: BlockId = GENESIS_BLOCK_ID
        self._last_time_ms = genesis.genesis_time_ms
        self.heights = 0
        self.outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
        """(kind, code) -> how often a decided block held it (what the workload reached)."""

    def on_decided(self, height: int, decided_id: BlockId, record: HeightRecord) -> None:
        """Judge block `height` (called once per height, in height order)."""
        if height != self.model.height + 1:
            return
        block = self._valid_block(height, decided_id, record)
        header = block.header
        try:
            outcomes = self.model.execute(height, header.time_ms, block.txs)
        except Refused as refused:
            raise Violation(
                Outcome.SAFETY, f"validity at height {height}: invalid transactions ({refused})"
            ) from None
        self.judge(height, block, record, outcomes)
        for outcome in outcomes:
            self.outcomes[(outcome.tx.name, outcome.code)] += 1
        self.clients.on_height(height, [Committed(o.tx.raw, o.tx.tx_id, o.code) for o in outcomes])
        self._last_id, self._last_time_ms = decided_id, header.time_ms
        self.heights = height

    def _valid_block(self, height: int, decided_id: BlockId, record: HeightRecord) -> Block:
        fail = f"validity at height {height}: "
        try:
            block = decode_block(record.block, MAX_BLOCK_BYTES)
        except DecodeError as exc:
            raise Violation(Outcome.SAFETY, fail + f"the block does not decode ({exc})") from None
        header = block.header
        if block_id(header) != decided_id:
            raise Violation(Outcome.SAFETY, fail + "the stored block is not the decided one")
        if header.height != height or header.chain_id != self._chain_id:
            raise Violation(Outcome.SAFETY, fail + "wrong height or chain in the header")
        if header.prev_block_id != self._last_id:
            raise Violation(Outcome.SAFETY, fail + "the block does not extend the chain")
        if header.time_ms <= self._last_time_ms:
            raise Violation(Outcome.SAFETY, fail + "the block time does not increase")
        return block

    def judge(
        self, height: int, block: Block, record: HeightRecord, outcomes: list[ModelOutcome]
    ) -> None:
        """Compare the validators' outcome of block `height` with the model's."""
        header = block.header
        self._compare_results(height, header.results_root, record.results, outcomes)
        self.observed.apply(record.writes)
        if not header.app_hash == record.app_hash == self.observed.app_hash(height):
            raise Violation(
                Outcome.SAFETY,
                f"app hash at height {height}: the validators' writes do not hash to the "
                "header's app hash",
            )
        if self.observed.model != self.model.state:
            diffs = "; ".join(self.model.state.differences(self.observed.model))
            raise Violation(
                Outcome.SAFETY,
                f"ledger state after height {height} differs from the reference model "
                f"(model vs validators): {diffs}",
            )
        broken = list(self.model.state.invariant_errors())
        try:
            check_ledger_invariants(self.observed.entries)
        except LedgerInvariantError as exc:
            broken.append(str(exc))
        if broken:
            raise Violation(Outcome.SAFETY, f"ledger invariant at height {height}: {broken[0]}")

    def _compare_results(
        self, height: int, root: bytes, stored: bytes, outcomes: list[ModelOutcome]
    ) -> None:
        leaves = [o.leaf() for o in outcomes]
        if merkle_root(leaves) == root:
            return
        theirs = _leaves(stored)
        for index, outcome in enumerate(outcomes):
            chain = theirs[index] if index < len(theirs) else "nothing"
            if chain != (outcome.tx.tx_id, outcome.code):
                said = chain[1] if isinstance(chain, tuple) else chain
                raise Violation(
                    Outcome.SAFETY,
                    f"outcome at height {height}, tx {index} ({outcome.tx.name} by "
                    f"{outcome.tx.signer[:4].hex()}): the validators committed {said}, the "
                    f"reference model says {outcome.code}",
                )
        raise Violation(
            Outcome.SAFETY,
            f"results root at height {height} differs from the reference model's outcomes",
        )


def _leaves(stored: bytes) -> list[tuple[bytes, str] | str]:
    """The stored result leaves as (tx_id, code), or what they are instead."""
    try:
        leaves = msgpack.unpackb(stored, raw=False, use_list=True)
        return [tuple(msgpack.unpackb(leaf, raw=False, use_list=True)) for leaf in leaves]
    except Exception:
        return ["undecodable results"]
