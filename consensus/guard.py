"""The double-sign guard: the last thing between the state machine and a signing key.

It remembers the last message signed, as (height, round, step, sign bytes, signature), and it is
part of the persisted sign state, so it survives crashes. Signing is allowed only strictly above
the last (height, round, step), with the order proposal < prevote < precommit inside a round. At
exactly the last (height, round, step) the stored signature is re-emitted if the sign bytes are
identical (a restarted node re-deriving the same vote), and refused otherwise. Anything lower is
refused. A refusal is silence, never a second, conflicting signature; the core still schedules
the step's timeout, and on restart it re-sends the stored message itself (consensus/core.py).
"""

from __future__ import annotations

from consensus.crypto import Signer
from consensus.messages import SignedRecord, Step


class SignGuard:
    """Signs through `signer` only when it can never contradict an earlier signature."""

    def __init__(self, signer: Signer, last_signed: SignedRecord | None) -> None:
        self._signer = signer
        self.last_signed = last_signed

    def sign(self, height: int, round: int, step: Step, sign_bytes: bytes) -> bytes | None:
        """The signature of `sign_bytes` at (height, round, step), or None if refused."""
        last = self.last_signed
        if last is not None:
            last_hrs = (last.height, last.round, last.step)
            if (height, round, step) == last_hrs:
                return last.signature if sign_bytes == last.sign_bytes else None
            if (height, round, step) < last_hrs:
                return None
        signature = self._signer.sign(sign_bytes)
        self.last_signed = SignedRecord(height, round, step, sign_bytes, signature)
        return signature
