"""An independent reference model of the deposit-token ledger, the simulator's judge of money.

Why it exists: an oracle that re-executes blocks with the ledger's own code agrees with every
bug in that code (a transfer applied twice keeps every invariant). This package is written
apart from `ledger/`: it imports none of its execution code (app, execute, state, layout,
used ids, validation, mempool) and not its decoder; it reads a transaction's bytes with plain
msgpack (`codec`), keeps the state in plain dicts (`state`), states each kind's rule once
(`rules`) and the exactly-once and validity rules of blocks (`chain`). It takes a `Genesis`
value as input and a signature scheme to check signatures with.

`sim.oracle` replays every block correct validators decide through it and compares outcomes
and state height by height; `tests/ledger/test_state_machine.py` runs it beside the real
ledger under hypothesis.
"""

from sim.reference.chain import REUSE, FirstUse, Outcome, ReferenceLedger
from sim.reference.codec import ModelTx, Refused
from sim.reference.state import Currency, ModelState, Participant, Redemption

__all__ = [
    "REUSE",
    "Currency",
    "FirstUse",
    "ModelState",
    "ModelTx",
    "Outcome",
    "Participant",
    "Redemption",
    "ReferenceLedger",
    "Refused",
]
