"""The ledger oracle on hand-made decided chains: a clean chain passes, and each way the
validators' outcome can differ from the rules is flagged at its height, among them the planted
double application that an oracle sharing the ledger's code could not see."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import pytest

from consensus.crypto import ED25519
from ledger.tx import (
    Freeze,
    GrantRole,
    Mint,
    Redeem,
    RegisterParticipant,
    SettleRedemption,
    Transfer,
    Unfreeze,
)
from ledger.txcodec import from_wire
from sim.checkers import Violation
from sim.oracle import LedgerOracle
from sim.planted import planted
from tests.ledger.support import (
    ALICE,
    BOB,
    CAROL,
    COMP,
    GOV,
    USD_ISSUER,
    TxFactory,
    block_time,
    genesis,
)
from tests.sim.chains import ChainBuilder, Decided

A, B, C = ALICE.public_key, BOB.public_key, CAROL.public_key


def _setup(tx: TxFactory) -> list[bytes]:
    return [
        tx(COMP, RegisterParticipant(A, "alice", 100)),
        tx(COMP, RegisterParticipant(B, "bob", 100)),
        tx(COMP, RegisterParticipant(C, "carol", 3)),
        tx(USD_ISSUER, Mint(A, "USD", 1_000, "dep-1")),
    ]


def _oracle(txs: Sequence[bytes] = ()) -> LedgerOracle:
    oracle = LedgerOracle(genesis(), ED25519)
    for raw in txs:
        oracle.clients.signed(raw)
    return oracle


def _feed(oracle: LedgerOracle, chain: Sequence[Decided]) -> None:
    for decided in chain:
        oracle.on_decided(decided.height, decided.block_id, decided.record)


def _clean_chain() -> tuple[list[bytes], list[Decided]]:
    tx = TxFactory(valid_until_ms=block_time(20))
    builder = ChainBuilder(genesis())
    blocks = [_setup(tx)]
    redeem = tx(ALICE, Redeem("USD", 100))
    pay = tx(ALICE, Transfer(A, B, "USD", 300))
    blocks.append([pay, redeem, pay, tx(GOV, GrantRole("GOVERNOR", GOV.public_key))])
    blocks.append(
        [
            tx(COMP, Freeze(B)),
            tx(ALICE, Transfer(A, B, "USD", 5)),  # ACCOUNT_FROZEN
            tx(USD_ISSUER, SettleRedemption(from_wire(redeem).tx_id, "pay-1")),
            tx(COMP, Unfreeze(B)),
        ]
    )
    blocks.append(
        [
            tx(BOB, Transfer(B, A, "USD", 7)),
            redeem,  # ALREADY_COMMITTED
            tx(BOB, Transfer(B, C, "USD", 1)),  # KYC_EXPIRED at height 4 > 3
        ]
    )
    chain = [builder.block(txs) for txs in blocks]
    return [raw for txs in blocks for raw in txs], chain


def test_a_clean_chain_passes_and_the_model_agrees_everywhere() -> None:
    txs, chain = _clean_chain()
    oracle = _oracle(txs)
    _feed(oracle, chain)
    assert oracle.heights == 4
    codes = {(k, c) for (k, c) in oracle.outcomes}
    assert {
        ("TRANSFER", "OK"),
        ("TRANSFER", "ACCOUNT_FROZEN"),
        ("TRANSFER", "KYC_EXPIRED"),
        ("TRANSFER", "ALREADY_COMMITTED"),
        ("REDEEM", "ALREADY_COMMITTED"),
        ("GRANT_ROLE", "SELF_GRANT"),
        ("SETTLE_REDEMPTION", "OK"),
    } <= codes
    state = oracle.model.state
    assert state.balances_of(A) == {"USD": 1_000 - 300 - 100 + 7}
    assert state.currencies["USD"].redeemed == 100
    assert oracle.observed.model == state


def test_a_transfer_applied_twice_is_caught_though_every_invariant_holds() -> None:
    with planted(["transfer_applied_twice"]):
        txs, chain = _clean_chain()
    oracle = _oracle(txs)
    with pytest.raises(Violation) as caught:
        _feed(oracle, chain)
    assert "height 2" in caught.value.reason
    assert "reference model" in caught.value.reason


def test_a_frozen_recipient_credited_is_caught() -> None:
    with planted(["frozen_recipient_credited"]):
        txs, chain = _clean_chain()
    oracle = _oracle(txs)
    with pytest.raises(Violation) as caught:
        _feed(oracle, chain)
    reason = caught.value.reason
    assert "height 3, tx 1" in reason and "ACCOUNT_FROZEN" in reason, reason


def test_writes_that_are_not_the_state_of_the_header_are_caught() -> None:
    tx = TxFactory(valid_until_ms=block_time(20))
    builder = ChainBuilder(genesis())
    first = builder.block(_setup(tx))
    second = builder.block([tx(ALICE, Transfer(A, B, "USD", 10))])
    tampered = attrs.evolve(second.record, writes={})
    oracle = _oracle()
    oracle.clients.enabled = False
    oracle.on_decided(first.height, first.block_id, first.record)
    with pytest.raises(Violation, match="app hash at height 2"):
        oracle.on_decided(second.height, second.block_id, tampered)


def test_a_block_holding_an_expired_transaction_is_invalid() -> None:
    tx = TxFactory(valid_until_ms=block_time(1))
    builder = ChainBuilder(genesis())
    decided = builder.block(_setup(tx), stamp_ms=block_time(1) + 1)
    oracle = _oracle()
    with pytest.raises(Violation, match=r"validity at height 1: invalid transactions .*EXPIRED"):
        oracle.on_decided(decided.height, decided.block_id, decided.record)


def test_the_chain_must_extend_in_order_and_in_time() -> None:
    tx = TxFactory(valid_until_ms=block_time(20))
    builder = ChainBuilder(genesis())
    first = builder.block(_setup(tx))
    second = builder.block([], time_ms=block_time(1))  # the same time as block 1
    oracle = _oracle()
    oracle.clients.enabled = False
    oracle.on_decided(first.height, first.block_id, first.record)
    with pytest.raises(Violation, match="the block time does not increase"):
        oracle.on_decided(second.height, second.block_id, second.record)


def test_a_transaction_no_client_signed_is_flagged_by_the_client_checker() -> None:
    txs, chain = _clean_chain()
    oracle = _oracle(txs[1:])
    with pytest.raises(Violation, match="exactly-once: a transaction no client signed"):
        _feed(oracle, chain)
