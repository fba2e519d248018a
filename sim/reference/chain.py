"""The reference model of the whole ledger: state, used ids, and what a block may hold.

The exactly-once rules, in the model's words. A transaction's id is fixed by its signer and
nonce. The first transaction with an id to reach a block is the id's one and only use: it runs
(successfully or not) and the id remembers where, with which outcome and which signed content.
Any later transaction with that id, in the same block or a million heights later, commits with
no effect: ALREADY_COMMITTED if its signed content is the first one's, DUPLICATE_TX_ID if not.
Nothing is ever forgotten.

What a block may hold. Every transaction must decode, obey the chain's rules, carry its
signer's signature, and be valid at the block's time (EXPIRED before, TOO_FAR_AHEAD beyond the
genesis window); one that fails any of these makes the whole block invalid. State failures and
later uses of an id do not: they commit with their code.

`admission` answers what a correct validator's mempool must say of some bytes at a time
(static checks, then a used id, then the window); the stateful test compares it with the
ledger's. Signatures are checked with the run's scheme, never with the ledger's code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs
import msgpack

from consensus.crypto import SignatureScheme
from sim.reference import codec, rules
from sim.reference.codec import ModelTx, Refused
from sim.reference.state import ModelState

if TYPE_CHECKING:
    from ledger.genesis import Genesis

REUSE = frozenset({"ALREADY_COMMITTED", "DUPLICATE_TX_ID"})


@attrs.frozen
class FirstUse:
    """Where and how an id was used (its only use that counts)."""

    height: int
    index: int
    code: str
    sign_bytes: bytes


@attrs.frozen
class Outcome:
    """One transaction's result in a block, as the model computes it."""

    tx: ModelTx
    code: str

    @property
    def applied(self) -> bool:
        """True for an id's first use (it ran, whatever its code)."""
        return self.code not in REUSE

    def leaf(self) -> bytes:
        """The result leaf the header's results root commits to: msgpack [tx_id, code]."""
        return bytes(msgpack.packb([self.tx.tx_id, self.code], use_bin_type=True))


class ReferenceLedger:
    """The ledger's rules, replayed block by block (see the module docstring)."""

    def __init__(self, genesis: Genesis, scheme: SignatureScheme) -> None:
        self.chain_id = genesis.chain_id
        self.max_tx_bytes = genesis.limits.max_tx_bytes
        self.window_ms = genesis.limits.max_validity_window_ms
        self.max_memo_bytes = genesis.limits.max_memo_bytes
        self.scheme = scheme
        self.state = ModelState.from_genesis(genesis)
        self.used: dict[bytes, FirstUse] = {}
        self.height = 0
        self.time_ms = genesis.genesis_time_ms

    # ------------------------------------------------------------ single transactions

    def signed_tx(self, raw: bytes) -> ModelTx:
        """Decode and check everything but the time: raises Refused."""
        tx = codec.decode(raw, self.max_tx_bytes)
        codec.check_rules(tx, self.chain_id, self.max_memo_bytes)
        if not self.scheme.verify(tx.signer, tx.sign_bytes, tx.signature):
            raise Refused("BAD_SIGNATURE", "not the signer's signature")
        return tx

    def reuse_code(self, tx: ModelTx, first: FirstUse) -> str:
        return "ALREADY_COMMITTED" if first.sign_bytes == tx.sign_bytes else "DUPLICATE_TX_ID"

    def admission(self, raw: bytes, time_ms: int) -> str:
        """What a correct validator answers when `raw` is submitted at `time_ms`."""
        try:
            tx = self.signed_tx(raw)
            first = self.used.get(tx.tx_id)
            if first is not None:
                return self.reuse_code(tx, first)
            codec.check_window(tx, time_ms, self.window_ms)
        except Refused as refused:
            return refused.code
        return rules.OK

    # ------------------------------------------------------------ blocks

    def _checked(self, height: int, time_ms: int, txs: Sequence[bytes]) -> list[ModelTx]:
        if height != self.height + 1:
            raise Refused("BAD_FIELD", f"height {height} after {self.height}")
        checked = []
        for index, raw in enumerate(txs):
            try:
                tx = self.signed_tx(raw)
                codec.check_window(tx, time_ms, self.window_ms)
            except Refused as refused:
                raise Refused(refused.code, f"tx {index}: {refused.why}") from None
            checked.append(tx)
        return checked

    def block_problem(self, height: int, time_ms: int, txs: Sequence[bytes]) -> str | None:
        """None if `txs` may form block `height` at `time_ms`, else why not."""
        try:
            self._checked(height, time_ms, txs)
        except Refused as refused:
            return str(refused)
        return None

    def execute(self, height: int, time_ms: int, txs: Sequence[bytes]) -> list[Outcome]:
        """Commit block `height` and return its outcomes; Refused if the block is invalid
        (then nothing changes)."""
        outcomes = []
        for index, tx in enumerate(self._checked(height, time_ms, txs)):
            first = self.used.get(tx.tx_id)
            if first is None:
                code = rules.apply(self.state, tx, height)
                self.used[tx.tx_id] = FirstUse(height, index, code, tx.sign_bytes)
            else:
                code = self.reuse_code(tx, first)
            outcomes.append(Outcome(tx, code))
        self.height, self.time_ms = height, time_ms
        return outcomes
