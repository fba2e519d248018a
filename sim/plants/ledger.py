"""Planted ledger bugs (see `sim.planted`): each replaces one function of `ledger.execute`.

Both are invisible to an oracle that re-executes blocks with the ledger's own code (it makes
the same mistake) and to the invariants (money is neither created nor destroyed); only an
independent model of the rules sees them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ledger import execute
from ledger.layout import ParticipantRecord
from ledger.state import LedgerState
from ledger.tx import SignedTx, Transfer
from sim.plants import replaced


@contextlib.contextmanager
def transfer_applied_twice() -> Iterator[None]:
    """A transfer's effect is applied a second time whenever the sender can afford it (as a
    retry loop around a handler that had already succeeded would do)."""
    original = execute.HANDLERS[Transfer]

    def twice(state: LedgerState, tx: SignedTx, body: Any, height: int) -> None:
        original(state, tx, body, height)
        with contextlib.suppress(execute.Failure):
            original(state, tx, body, height)

    execute.HANDLERS[Transfer] = twice
    try:
        yield
    finally:
        execute.HANDLERS[Transfer] = original


def frozen_recipient_credited() -> contextlib.AbstractContextManager[None]:
    """The account check forgets the frozen flag for recipients: a frozen account still
    receives transfers and mints (a sender's freeze still holds)."""
    original = execute._active

    def active(state: LedgerState, key: bytes, height: int, who: str) -> ParticipantRecord:
        record = state.participant(key)
        if who == "recipient" and record is not None and record.frozen:
            if height > record.kyc_expiry_height:
                raise execute.Failure(execute.Code.KYC_EXPIRED, "the recipient's KYC expired")
            return record
        return original(state, key, height, who)

    return replaced(execute, "_active", active)
