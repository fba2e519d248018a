"""The workload skips no feature, and its clients exercise the exactly-once rules: a few runs
reach every transaction kind both committed OK and refused (each refusal judged by the
reference model), every kind of bad envelope, and every client behaviour (retries with the
same bytes, re-sends at once, when final and after expiry, nonces reused while pending and
after the window), with receipts checked against the chain. A seed replays its workload bit
for bit."""

from __future__ import annotations

import collections
import random

import attrs
import pytest

from ledger.app import LedgerApp
from ledger.tx import Transfer
from sim.envelopes import KINDS as ENVELOPES
from sim.envelopes import bad_envelope
from sim.reference import ReferenceLedger
from sim.reference.codec import KINDS
from sim.result import Outcome, RunSpec
from sim.runner import Simulation
from sim.stack import build_world
from sim.swarm import derive_config

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


EXPECTED = {
    "truncated": {"MALFORMED"},
    "trailing": {"TRAILING_BYTES"},
    "non_canonical": {"NON_CANONICAL"},
    "bad_signature": {"BAD_SIGNATURE"},
    "other_chain": {"WRONG_CHAIN"},
    "expired": {"EXPIRED"},
    "too_far_ahead": {"TOO_FAR_AHEAD"},
    "bad_field": {"AMOUNT_OUT_OF_RANGE"},
    "self_transfer": {"SELF_TRANSFER"},
    "not_owner": {"NOT_OWNER"},
    "memo_too_large": {"MEMO_TOO_LARGE"},
}


def test_each_bad_envelope_is_refused_with_its_code_by_the_ledger_and_the_model() -> None:
    world = build_world(derive_config(1), random.Random(1))
    app, model = (
        LedgerApp(world.genesis, world.scheme),
        ReferenceLedger(world.genesis, world.scheme),
    )
    rng = random.Random(7)
    signer = world.clients.participants[0]
    body = Transfer(signer.public_key, world.clients.participants[1].public_key, "USD", 5)
    now_ms = 50_000
    seen: set[str] = set()
    while seen != set(ENVELOPES):
        envelope = bad_envelope(rng, world, signer, body, rng.randbytes(16), now_ms)
        seen.add(envelope.kind)
        admission = app.check_tx(envelope.raw, now_ms)
        assert not admission.accepted, envelope.kind
        assert model.admission(envelope.raw, now_ms) == admission.code, envelope.kind
        assert admission.code in EXPECTED.get(envelope.kind, {admission.code}), envelope.kind
