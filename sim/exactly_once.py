"""The client-level judge of exactly-once payments: what clients saw final, against the chain.

Why a judge at this level: consensus can be safe and the ledger's invariants hold while a
payment is applied twice, or while a client holds a receipt for something other than what
happened. This checker knows nothing of the ledger's code. It is told every transaction a
simulated client signed (`signed`), the chain as correct validators decided it, each
transaction with its outcome as the reference model computed it (`on_height`), and every
receipt a client verified (`saw_final`). It requires:

1. every transaction applied (an id's first use, whatever its code) was signed by a client;
2. no transaction's bytes and no tx_id is applied twice (a later use is ALREADY_COMMITTED or
   DUPLICATE_TX_ID, with no effect);
3. a transaction a client saw final was applied at exactly the (height, index) its receipt
   names, with the code the receipt states; and a client never holds two different receipts
   for the same bytes.

Each rule is checked as soon as both sides are known: a receipt for a height correct
validators have not decided yet waits for it. When the run's faulty validators hold 1/3 of the
power or more, certified blocks may fork and nothing is promised: the checker then records
but never judges (`enabled=False`).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from sim.checkers import Violation
from sim.result import Outcome

REUSE = frozenset({"ALREADY_COMMITTED", "DUPLICATE_TX_ID"})


@attrs.frozen
class Where:
    """A position in the chain and the code a transaction has there."""

    height: int
    index: int
    code: str

    def __str__(self) -> str:
        return f"height {self.height} index {self.index} ({self.code})"


@attrs.frozen
class Committed:
    """One transaction of a decided block, with the reference model's outcome."""

    raw: bytes
    tx_id: bytes
    code: str


class ExactlyOnce:
    """See the module docstring."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.signed_txs: set[bytes] = set()
        self.applied: dict[bytes, Where] = {}  # bytes -> where applied
        self.applied_ids: dict[bytes, Where] = {}  # tx_id -> where applied
        self.finals: dict[bytes, Where] = {}  # bytes -> what a client's receipt said
        self.waiting: dict[int, list[tuple[bytes, Where, str]]] = {}
        self.height = 0
        self.judged = 0  # receipts checked against the chain

    def _fail(self, reason: str) -> None:
        if self.enabled:
            raise Violation(Outcome.SAFETY, f"exactly-once: {reason}")

    def signed(self, raw: bytes) -> None:
        """A client signed `raw` (it may submit it any number of times)."""
        self.signed_txs.add(raw)

    def on_height(self, height: int, txs: Sequence[Committed]) -> None:
        """Decided block `height` (heights in order), with each transaction's outcome."""
        assert height == self.height + 1, "heights come in order"
        self.height = height
        for index, tx in enumerate(txs):
            if tx.code in REUSE:
                continue
            where = Where(height, index, tx.code)
            if tx.raw not in self.signed_txs:
                self._fail(f"a transaction no client signed was applied at {where}")
            before = self.applied.get(tx.raw) or self.applied_ids.get(tx.tx_id)
            if before is not None:
                self._fail(f"tx {tx.tx_id.hex()} applied twice: at {before} and again at {where}")
            final = self.finals.get(tx.raw)
            if final is not None and final != where:
                self._fail(
                    f"a client saw tx {tx.tx_id.hex()} final at {final}, yet it was applied at "
                    f"{where}"
                )
            self.applied.setdefault(tx.raw, where)
            self.applied_ids.setdefault(tx.tx_id, where)
        for raw, where, client in self.waiting.pop(height, []):
            self._judge(raw, where, client)

    def saw_final(self, raw: bytes, where: Where, client: str) -> None:
        """A client verified a receipt saying `raw` committed at `where`."""
        before = self.finals.setdefault(raw, where)
        if before != where:
            self._fail(f"{client} holds two receipts for one transaction: {before} and {where}")
        if where.height > self.height:
            self.waiting.setdefault(where.height, []).append((raw, where, client))
        else:
            self._judge(raw, where, client)

    def bad_receipt(self, reason: str) -> None:
        """A validator's store holds a committed transaction whose receipt does not verify."""
        self._fail(reason)

    def _judge(self, raw: bytes, where: Where, client: str) -> None:
        self.judged += 1
        applied = self.applied.get(raw)
        if applied is None:
            self._fail(f"{client} saw a transaction final at {where}, but it was never applied")
        elif applied != where:
            self._fail(f"{client} saw a transaction final at {where}; it was applied at {applied}")
