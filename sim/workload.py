"""The client workload: what simulated clients submit, and to which validators.

At each of its ticks (exponential arrivals at the run's `tx_per_s`) the workload signs one new
transaction (`sim.actions`: every kind, valid and refused forms, aimed with the committed state
as the reference model sees it), or, for `invalid_tx_pct` of them, an envelope no block may
hold (`sim.envelopes`), and lets the clients (`sim.clients`) do what is due: check receipts,
re-send, and misbehave on purpose around ids. It returns what to submit where; the runner
delivers each submission to that validator instance (a crashed one loses it).

Everything is drawn from the run's workload stream and the (deterministic) committed state,
so a seed replays its transactions bit for bit.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs

from sim.actions import Actions
from sim.clients import Clients, Validator
from sim.envelopes import SIGNED, bad_envelope
from sim.oracle import LedgerOracle
from sim.stack import World


@attrs.define
class WorkloadStats:
    generated: int = 0
    invalid: int = 0
    admitted: int = 0
    refused: int = 0
    envelopes: dict[str, int] = attrs.field(factory=dict)  # refused envelope kind -> count


class Workload:
    """Makes the next submissions; the runner decides when (see the module docstring)."""

    def __init__(
        self, world: World, rng: random.Random, invalid_pct: int, oracle: LedgerOracle
    ) -> None:
        self._world = world
        self._rng = rng
        self._invalid_pct = invalid_pct
        self._checker = oracle.clients
        self.actions = Actions(world, rng, oracle.model)
        self.clients = Clients(world, rng, oracle.clients)
        self.stats = WorkloadStats()

    def gap_ms(self, tx_per_s: int) -> int:
        """Virtual milliseconds until the next tick (exponential arrivals)."""
        return max(1, int(self._rng.expovariate(tx_per_s / 1000.0)))

    def tick(self, now_ms: int, validators: Sequence[Validator]) -> list[tuple[int, bytes]]:
        """One new transaction and the clients' due work: (validator instance, bytes) pairs."""
        rng, clients = self._rng, self.clients
        clients.tick(now_ms, validators)
        self.stats.generated += 1
        intent = self.actions.next()
        if rng.randrange(100) < self._invalid_pct:
            self.stats.invalid += 1
            envelope = bad_envelope(
                rng, self._world, intent.signer, intent.body, rng.randbytes(16), now_ms
            )
            self.stats.envelopes[envelope.kind] = self.stats.envelopes.get(envelope.kind, 0) + 1
            if envelope.kind in SIGNED:
                self._checker.signed(envelope.raw)
            clients.send(envelope.raw, 1)
        else:
            nonce = clients.reusable_nonce(intent.signer) if rng.random() < 0.04 else None
            sent = clients.sign(intent.signer, intent.body, now_ms, nonce)
            at_once = rng.random() < 0.1
            clients.stats.resent_at_once += at_once
            clients.send(sent.raw, 1 + at_once)
        out, clients.out = clients.out, []
        return out
