"""Timeout durations of Algorithm 1, growing linearly with the round.

The paper needs timeouts that eventually exceed the (unknown) message delay after GST; linear
growth gets there without the slow recovery of exponential schemes (QBFT's top operational
complaint). Durations restart from the base at every height, because the round does.
"""

from __future__ import annotations

import attrs

from consensus.messages import Step

MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000
"""No single configured base or delta may exceed a day: a typo must not stall a chain for years."""


def _non_negative_ms(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if type(value) is not int or not 0 <= value <= MAX_TIMEOUT_MS:
        raise ValueError(f"{attribute.name} must be an int in [0, {MAX_TIMEOUT_MS}], got {value!r}")


@attrs.frozen
class TimeoutConfig:
    """Base durations and per-round increments, in milliseconds (CometBFT's defaults)."""

    propose_ms: int = attrs.field(default=3000, validator=_non_negative_ms)
    propose_delta_ms: int = attrs.field(default=500, validator=_non_negative_ms)
    prevote_ms: int = attrs.field(default=1000, validator=_non_negative_ms)
    prevote_delta_ms: int = attrs.field(default=500, validator=_non_negative_ms)
    precommit_ms: int = attrs.field(default=1000, validator=_non_negative_ms)
    precommit_delta_ms: int = attrs.field(default=500, validator=_non_negative_ms)

    def duration_ms(self, step: Step, round: int) -> int:
        """timeoutPropose/Prevote/Precommit(round) of the paper: `base + round * delta`."""
        if type(round) is not int or round < 0:
            raise ValueError(f"round must be a non-negative int, got {round!r}")
        if step is Step.PROPOSE:
            return self.propose_ms + round * self.propose_delta_ms
        if step is Step.PREVOTE:
            return self.prevote_ms + round * self.prevote_delta_ms
        if step is Step.PRECOMMIT:
            return self.precommit_ms + round * self.precommit_delta_ms
        raise ValueError(f"not a step: {step!r}")
