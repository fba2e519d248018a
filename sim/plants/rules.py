"""Planted bugs of the "rules" and "stall" classes (see `sim.planted`).

Each function returns a context manager that replaces one production function for a run and
puts it back afterwards. The replacements are the mistakes someone could plausibly make:
- constant_timeouts: `TimeoutConfig.duration_ms` forgets the per-round increment, so a
  validator's timeouts never outgrow the message delay (liveness after GST is lost);
- round_skip_by_heads: the round skip of line 55 counts validators instead of voting power;
- restart_drops_kept: a restarted replica ignores the blocks kept with its sign state, as
  before the fix of sim seed 108 (a lock on a block every holder lost stalls the core).
"""

from __future__ import annotations

import contextlib
from typing import Any

from consensus.messages import Step
from consensus.replica import startup
from consensus.replica.kept import Kept
from consensus.rules import Rules
from consensus.timeouts import TimeoutConfig
from sim.plants import replaced


def constant_timeouts() -> contextlib.AbstractContextManager[None]:
    def duration_ms(self: TimeoutConfig, step: Step, round: int) -> int:
        base = {Step.PROPOSE: self.propose_ms, Step.PREVOTE: self.prevote_ms}
        return base.get(step, self.precommit_ms)  # planted bug: no `round * delta`

    return replaced(TimeoutConfig, "duration_ms", duration_ms)


def round_skip_by_heads() -> contextlib.AbstractContextManager[None]:
    def _try_round_skip(self: Rules) -> bool:
        n = len(self.validators.validators)
        for r in reversed(self._log.rounds_above(self._round)):
            heads = sum(1 for rounds in self._log._sender_rounds.values() if r in rounds)
            if 3 * heads > n:  # planted bug: more than 1/3 of the validators, not of the power
                self._start_round(r)
                return True
        return False

    return replaced(Rules, "_try_round_skip", _try_round_skip)


def restart_drops_kept() -> contextlib.AbstractContextManager[None]:
    def restore_kept(state: Any, raw_blocks: Any, max_bytes: int) -> Kept:
        return Kept()  # planted bug: the lock is restored, what it needs is not

    return replaced(startup, "restore_kept", restore_kept)
