"""The catalogue of bad input: each case with the stable code a client sees.

Static cases are refused by the mempool (`check_tx`) and make any block holding them invalid;
state cases are well-formed and signed, so they commit with a failure code and change nothing
in the state (their id enters the used-id index). A tx_id's later uses are refused by the
mempool and, in a block, commit with no effect at all.
"""

from __future__ import annotations

import attrs
import msgpack
import pytest

from ledger.amounts import MAX_AMOUNT
from ledger.app import LedgerApp
from ledger.codes import REUSE_CODES, STATIC_CODES, Code
from ledger.tx import (
    Freeze,
    GrantRole,
    Mint,
    Pause,
    Redeem,
    RegisterParticipant,
    RevokeRole,
    SetMintAllowance,
    SettleRedemption,
    Transfer,
)
from ledger.txcodec import from_wire, to_wire
from tests.ledger.support import (
    ALICE,
    BOB,
    CAROL,
    COMP,
    EUR_ISSUER,
    GOV,
    USD_ISSUER,
    TxFactory,
    block_time,
    commit,
    genesis,
)

A, B, C = ALICE.public_key, BOB.public_key, CAROL.public_key


@pytest.fixture
def make() -> TxFactory:
    return TxFactory()


@pytest.fixture
def app(make: TxFactory) -> LedgerApp:
    """Alice and Bob registered (KYC until height 20); Alice holds 1,000 USD cents."""
    app = LedgerApp(genesis(max_memo_bytes=16, max_validity_window_ms=60_000))
    codes = commit(
        app,
        [
            make(COMP, RegisterParticipant(A, "alice", 20)),
            make(COMP, RegisterParticipant(B, "bob", 20)),
            make(USD_ISSUER, Mint(A, "USD", 1000, "dep-1")),
        ],
    )
    assert codes == ["OK"] * 3
    return app


def _static(app: LedgerApp, tx: bytes, code: Code) -> None:
    height = app.height + 1
    admission = app.check_tx(tx, block_time(height))
    assert (admission.accepted, admission.code) == (False, code.value), admission
    reason = app.validate_block_txs(height, block_time(height), [tx])
    assert reason is not None and code.value in reason
    assert code in STATIC_CODES


def _reused(app: LedgerApp, tx: bytes, code: Code) -> None:
    """A later use of a committed id: refused at admission; in a block, no effect at all."""
    height = app.height + 1
    admission = app.check_tx(tx, block_time(height))
    assert (admission.accepted, admission.code) == (False, code.value), admission
    first = app.tx_result(from_wire(tx).tx_id)
    before = dict(app.state)
    assert commit(app, [tx]) == [code.value]
    assert dict(app.state) == before and app.tx_result(from_wire(tx).tx_id) == first
    assert code in REUSE_CODES and code not in STATIC_CODES


def _transfer(make: TxFactory, amount: object, **kw: object) -> bytes:
    return make(ALICE, Transfer(A, B, "USD", amount, "m"), **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- static


def test_replayed_tx_id_returns_the_first_outcome(app: LedgerApp, make: TxFactory) -> None:
    tx = _transfer(make, 10)
    assert commit(app, [tx]) == ["OK"]
    admission = app.check_tx(tx, block_time(app.height + 1))
    assert admission == attrs.evolve(
        admission,
        accepted=False,
        code="ALREADY_COMMITTED",
        message="committed at height 2 (index 0) with OK",
    )
    failed = _transfer(make, 10**6)
    assert commit(app, [failed]) == ["INSUFFICIENT_FUNDS"]
    refused = app.check_tx(failed, block_time(app.height + 1))
    assert refused.message == "committed at height 3 (index 0) with INSUFFICIENT_FUNDS"
    _reused(app, tx, Code.ALREADY_COMMITTED)
    outcome = app.tx_result(from_wire(tx).tx_id)
    assert outcome is not None and (outcome.height, outcome.code) == (2, "OK")


def test_same_id_different_body(app: LedgerApp, make: TxFactory) -> None:
    tx = _transfer(make, 10)
    commit(app, [tx])
    other = _transfer(make, 11, nonce=from_wire(tx).nonce)
    _reused(app, other, Code.DUPLICATE_TX_ID)


def test_duplicate_id_inside_one_block(app: LedgerApp, make: TxFactory) -> None:
    a = _transfer(make, 10)
    b = _transfer(make, 11, nonce=from_wire(a).nonce)
    assert commit(app, [a, b]) == ["OK", "DUPLICATE_TX_ID"]
    assert app.account(B).balances == {"USD": 10}


def test_expired_and_too_far_ahead(app: LedgerApp, make: TxFactory) -> None:
    now = block_time(app.height + 1)
    _static(app, _transfer(make, 10, valid_until_ms=now - 1), Code.EXPIRED)
    _static(app, _transfer(make, 10, valid_until_ms=now + 60_001), Code.TOO_FAR_AHEAD)
    assert app.check_tx(_transfer(make, 10, valid_until_ms=now + 60_000), now).accepted
    assert app.check_tx(_transfer(make, 10, valid_until_ms=now), now).accepted


def test_wrong_chain_id(app: LedgerApp, make: TxFactory) -> None:
    _static(app, _transfer(make, 10, chain_id="other-chain"), Code.WRONG_CHAIN)


def test_bad_signature(app: LedgerApp, make: TxFactory) -> None:
    tx = from_wire(_transfer(make, 10))
    flipped = bytes([tx.signature[0] ^ 1]) + tx.signature[1:]
    _static(app, to_wire(attrs.evolve(tx, signature=flipped)), Code.BAD_SIGNATURE)
    # a valid signature by another key over the same body
    forged = from_wire(make(BOB, Transfer(A, B, "USD", 10, "m"), nonce=tx.nonce))
    _static(app, to_wire(attrs.evolve(forged, signer=A)), Code.BAD_SIGNATURE)


def test_truncated_trailing_and_non_canonical_bytes(app: LedgerApp, make: TxFactory) -> None:
    tx = _transfer(make, 10)
    _static(app, tx[:-1], Code.MALFORMED)
    _static(app, tx + b"\x00", Code.TRAILING_BYTES)
    items = msgpack.unpackb(tx)
    at = len(tx) - 66  # the signature: bin8 header (2 bytes) + 64 bytes
    assert tx[at : at + 2] == b"\xc4\x40"
    bin16 = tx[:at] + b"\xc5\x00\x40" + tx[at + 2 :]
    assert msgpack.unpackb(bin16) == items
    _static(app, bin16, Code.NON_CANONICAL)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (0, Code.AMOUNT_OUT_OF_RANGE),
        (-1, Code.AMOUNT_OUT_OF_RANGE),
        (MAX_AMOUNT + 1, Code.AMOUNT_OUT_OF_RANGE),
        (True, Code.AMOUNT_NOT_INTEGER),
        (10.0, Code.AMOUNT_NOT_INTEGER),
        ("10", Code.AMOUNT_NOT_INTEGER),
    ],
)
def test_bad_amounts(app: LedgerApp, make: TxFactory, amount: object, code: Code) -> None:
    _static(app, _transfer(make, amount), code)
    _static(app, make(USD_ISSUER, Mint(A, "USD", amount, "d")), code)  # type: ignore[arg-type]


def test_memo_too_large_self_transfer_not_owner_oversize(app: LedgerApp, make: TxFactory) -> None:
    _static(app, make(ALICE, Transfer(A, B, "USD", 1, "x" * 17)), Code.MEMO_TOO_LARGE)
    ok = make(ALICE, Transfer(A, B, "USD", 1, "x" * 16))
    assert app.check_tx(ok, block_time(2)).accepted
    _static(app, make(ALICE, Transfer(A, A, "USD", 1, "")), Code.SELF_TRANSFER)
    _static(app, make(BOB, Transfer(A, B, "USD", 1, "")), Code.NOT_OWNER)
    _static(app, make(GOV, RevokeRole("GOVERNOR", A)) + b"\0" * 3000, Code.TX_TOO_LARGE)


# ---------------------------------------------------------------- state failures


def _state_fail(app: LedgerApp, txs: list[bytes], codes: list[str]) -> None:
    for tx in txs:
        assert app.check_tx(tx, block_time(app.height + 1)).accepted
    before = dict(app.state)
    assert commit(app, txs) == codes
    if all(code != "OK" for code in codes):
        assert dict(app.state) == before
    for tx in txs:  # every id is used now, failed or not
        assert app.tx_result(from_wire(tx).tx_id) is not None


def test_overdraft_and_double_spend_in_one_block(app: LedgerApp, make: TxFactory) -> None:
    _state_fail(app, [_transfer(make, 1001)], ["INSUFFICIENT_FUNDS"])
    _state_fail(app, [_transfer(make, 600), _transfer(make, 600)], ["OK", "INSUFFICIENT_FUNDS"])
    assert app.account(A).balances == {"USD": 400}
    assert app.account(B).balances == {"USD": 600}


def test_mint_rules(app: LedgerApp, make: TxFactory) -> None:
    _state_fail(app, [make(ALICE, Mint(A, "USD", 5, "dep-2"))], ["NOT_AUTHORIZED"])
    _state_fail(app, [make(EUR_ISSUER, Mint(A, "EUR", 5, "dep-2"))], ["ALLOWANCE_EXCEEDED"])
    _state_fail(app, [make(USD_ISSUER, Mint(A, "USD", 5, "dep-1"))], ["DEPOSIT_REF_USED"])
    _state_fail(app, [make(USD_ISSUER, Mint(C, "USD", 5, "dep-3"))], ["NOT_REGISTERED"])
    _state_fail(app, [make(USD_ISSUER, Mint(A, "JPY", 5, "dep-3"))], ["UNKNOWN_CURRENCY"])
    _state_fail(
        app,
        [
            make(GOV, SetMintAllowance(USD_ISSUER.public_key, "USD", MAX_AMOUNT)),
            make(USD_ISSUER, Mint(A, "USD", MAX_AMOUNT - 1000, "dep-4")),
            make(USD_ISSUER, Mint(B, "USD", 1, "dep-5")),
        ],
        ["OK", "OK", "OVERFLOW"],
    )


def test_frozen_unregistered_paused_expired(app: LedgerApp, make: TxFactory) -> None:
    _state_fail(app, [make(CAROL, Transfer(C, A, "USD", 1, ""))], ["NOT_REGISTERED"])
    _state_fail(app, [make(ALICE, Transfer(A, C, "USD", 1, ""))], ["NOT_REGISTERED"])
    commit(app, [make(COMP, Freeze(B))])
    _state_fail(app, [_transfer(make, 1)], ["ACCOUNT_FROZEN"])
    _state_fail(app, [make(BOB, Transfer(B, A, "USD", 1, ""))], ["ACCOUNT_FROZEN"])
    commit(app, [make(COMP, Pause("USD"))])
    _state_fail(app, [make(ALICE, Redeem("USD", 1))], ["CURRENCY_PAUSED"])
    _state_fail(app, [make(USD_ISSUER, Mint(A, "USD", 1, "dep-9"))], ["CURRENCY_PAUSED"])
    while app.height < 20:
        commit(app, [])
    commit(app, [make(COMP, RegisterParticipant(C, "carol", 100))])
    _state_fail(app, [make(ALICE, Transfer(A, C, "EUR", 1, ""))], ["KYC_EXPIRED"])


def test_roles_and_redemptions(app: LedgerApp, make: TxFactory) -> None:
    _state_fail(app, [make(ALICE, Pause("USD"))], ["NOT_AUTHORIZED"])
    _state_fail(app, [make(GOV, GrantRole("GOVERNOR", GOV.public_key))], ["SELF_GRANT"])
    _state_fail(app, [make(GOV, RevokeRole("GOVERNOR", GOV.public_key))], ["LAST_GOVERNOR"])
    _state_fail(app, [make(GOV, RevokeRole("COMPLIANCE", A))], ["ROLE_NOT_HELD"])
    _state_fail(app, [make(USD_ISSUER, SettleRedemption(b"\7" * 16, "p"))], ["UNKNOWN_REDEMPTION"])
    redeem = make(ALICE, Redeem("USD", 100))
    rid = from_wire(redeem).tx_id
    _state_fail(
        app,
        [
            redeem,
            make(EUR_ISSUER, SettleRedemption(rid, "pay-1")),
            make(USD_ISSUER, SettleRedemption(rid, "pay-1")),
            make(USD_ISSUER, SettleRedemption(rid, "pay-2")),
        ],
        ["OK", "NOT_AUTHORIZED", "OK", "UNKNOWN_REDEMPTION"],
    )
    supply = app.supply("USD")
    assert supply is not None and (supply.minted, supply.redeemed) == (1000, 100)
