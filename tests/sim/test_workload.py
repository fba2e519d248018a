"""The workload skips no feature, and its clients exercise the exactly-once rules: a few runs
reach every transaction kind both committed OK and refused (each refusal judged by the
reference model), every kind of bad envelope, and every client behaviour (retries with the
same bytes, re-sends at once, when final and after expiry, nonces reused while pending and
after the window), with receipts checked against the chain. A seed replays its workload bit
for bit."""

from __future__ import annotations

import collections

import attrs
import pytest

from sim.envelopes import KINDS as ENVELOPES
from sim.reference.codec import KINDS
from sim.result import Outcome, RunSpec
from sim.runner import Simulation

BUSY: dict[str, object] = {
    "validators": 4,
    "safety_ms": 8000,
    "tx_per_s": 60,
    "invalid_tx_pct": 20,
    "byzantine": (),
    "twins": (),
    "faults": ("loss", "crash"),
    "max_block_txs": 500,
}
SEEDS = (1, 2, 3)


@attrs.frozen
class Seen:
    outcomes: dict[str, collections.Counter[str]]
    envelopes: collections.Counter[str]
    clients: collections.Counter[str]
    judged: int


@pytest.fixture(scope="module")
def seen() -> Seen:
    outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    envelopes: collections.Counter[str] = collections.Counter()
    clients: collections.Counter[str] = collections.Counter()
    judged = 0
    for seed in SEEDS:
        sim = Simulation(RunSpec(seed, BUSY))
        result = sim.run()
        assert result.outcome is Outcome.PASS, result.summary_line()
        for (kind, code), count in sim.oracle.outcomes.items():
            outcomes[kind][code] += count
        envelopes.update(sim.workload.stats.envelopes)
        clients.update(attrs.asdict(sim.workload.clients.stats))
        judged += sim.oracle.clients.judged
    return Seen(dict(outcomes), envelopes, clients, judged)


def test_every_kind_commits_both_ok_and_refused(seen: Seen) -> None:
    for name, _ in KINDS.values():
        codes = seen.outcomes.get(name, collections.Counter())
        assert codes["OK"] > 0, f"{name} never committed OK: {dict(codes)}"
        assert set(codes) - {"OK"}, f"{name} was never refused: {dict(codes)}"


def test_the_compliance_and_money_rules_are_reached(seen: Seen) -> None:
    reached = {code for codes in seen.outcomes.values() for code in codes}
    wanted = {
        "ACCOUNT_FROZEN",
        "KYC_EXPIRED",
        "CURRENCY_PAUSED",
        "NOT_REGISTERED",
        "NOT_AUTHORIZED",
        "INSUFFICIENT_FUNDS",
        "ALLOWANCE_EXCEEDED",
        "DEPOSIT_REF_USED",
        "UNKNOWN_REDEMPTION",
        "UNKNOWN_CURRENCY",
        "CURRENCY_EXISTS",
        "LAST_GOVERNOR",
        "SELF_GRANT",
        "ROLE_ALREADY_HELD",
        "ROLE_NOT_HELD",
    }
    assert wanted <= reached, wanted - reached
    for kind in ("TRANSFER", "MINT"):
        assert seen.outcomes[kind]["ACCOUNT_FROZEN"] > 0  # a frozen party, as sender or not


def test_every_bad_envelope_is_sent(seen: Seen) -> None:
    assert set(seen.envelopes) == set(ENVELOPES)


def test_clients_retry_reuse_and_have_their_receipts_judged(seen: Seen) -> None:
    for behaviour in (
        "resent",
        "resent_at_once",
        "resent_when_final",
        "resent_after_expiry",
        "reused_pending",
        "reused_after_window",
        "final",
        "expired",
        "superseded",
        "asked_again",
    ):
        assert seen.clients[behaviour] > 0, behaviour
    assert seen.judged == seen.clients["final"] + seen.clients["asked_again"]


def test_a_seed_replays_its_workload_bit_for_bit() -> None:
    spec = RunSpec(2, {**BUSY, "safety_ms": 3000})
    first, second = Simulation(spec), Simulation(spec)
    a, b = first.run(), second.run()
    assert a.digest == b.digest and a.events == b.events
    assert first.workload.stats == second.workload.stats
    assert first.workload.clients.stats == second.workload.clients.stats
    assert first.workload.stats.generated > 50
