"""The state transition: what each transaction kind does to the ledger, and when it fails.

Input is a decoded transaction that already passed every static check (well-formed, signed,
in its window, sender is signer, no self-transfer); what remains can only fail on state, and
such a failure commits with a stable code. Each handler checks everything first and writes
only once every check passed, so a failed transaction leaves the state exactly as it was.
The order of the checks is part of the protocol (it decides which code a client sees): the
reference model in tests/ledger mirrors it.

A participant can send or receive only while registered, not frozen, and at a height no
later than its `kyc_expiry_height`. Pausing a currency stops MINT, TRANSFER and REDEEM;
settling or rejecting a redemption keeps working (like Circle's FiatToken, incident handling
must not be blocked by the pause). Returning rejected redemption funds ignores freeze/KYC.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ledger.amounts import MAX_AMOUNT, MAX_U64
from ledger.codes import Code
from ledger.layout import CurrencyRecord, ParticipantRecord, RedemptionRecord
from ledger.state import LedgerState
from ledger.tx import (
    AddCurrency,
    Freeze,
    GrantRole,
    Mint,
    Pause,
    Redeem,
    RegisterParticipant,
    RejectRedemption,
    RevokeRole,
    SetMintAllowance,
    SettleRedemption,
    SignedTx,
    Transfer,
    Unfreeze,
    Unpause,
)


class Failure(Exception):
    """A state failure: the transaction commits with `code` and changes nothing."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _require_role(state: LedgerState, role: str, signer: bytes) -> None:
    if not state.has_role(role, signer):
        raise Failure(Code.NOT_AUTHORIZED, f"the signer does not hold the {role} role")


def _currency(state: LedgerState, code: str) -> CurrencyRecord:
    record = state.currency(code)
    if record is None:
        raise Failure(Code.UNKNOWN_CURRENCY, f"no currency {code}")
    return record


def _not_paused(record: CurrencyRecord, code: str) -> None:
    if record.paused:
        raise Failure(Code.CURRENCY_PAUSED, f"{code} is paused")


def _active(state: LedgerState, key: bytes, height: int, who: str) -> ParticipantRecord:
    record = state.participant(key)
    if record is None:
        raise Failure(Code.NOT_REGISTERED, f"the {who} is not a registered participant")
    if record.frozen:
        raise Failure(Code.ACCOUNT_FROZEN, f"the {who} is frozen")
    if height > record.kyc_expiry_height:
        raise Failure(Code.KYC_EXPIRED, f"the {who}'s KYC expired at {record.kyc_expiry_height}")
    return record


def _issuer(record: CurrencyRecord, signer: bytes, code: str) -> None:
    if record.issuer != signer:
        raise Failure(Code.NOT_AUTHORIZED, f"the signer is not the issuer of {code}")


# ---------------------------------------------------------------- governor


def _add_currency(state: LedgerState, tx: SignedTx, body: AddCurrency, height: int) -> None:
    _require_role(state, "GOVERNOR", tx.signer)
    if state.currency(body.code) is not None:
        raise Failure(Code.CURRENCY_EXISTS, f"{body.code} already exists")
    state.set_currency(body.code, CurrencyRecord(body.scale, body.issuer, False, 0, 0, 0))


def _set_allowance(state: LedgerState, tx: SignedTx, body: SetMintAllowance, height: int) -> None:
    _require_role(state, "GOVERNOR", tx.signer)
    record = _currency(state, body.currency)
    if record.issuer != body.issuer:
        raise Failure(Code.NOT_ISSUER, f"that key is not the issuer of {body.currency}")
    state.set_allowance(body.issuer, body.currency, body.amount)


def _grant(state: LedgerState, tx: SignedTx, body: GrantRole, height: int) -> None:
    _require_role(state, "GOVERNOR", tx.signer)
    if body.key == tx.signer:
        raise Failure(Code.SELF_GRANT, "a governor cannot grant a role to itself")
    holders = state.role_holders(body.role)
    if body.key in holders:
        raise Failure(Code.ROLE_ALREADY_HELD, f"the key already holds {body.role}")
    state.set_role_holders(body.role, [*holders, body.key])


def _revoke(state: LedgerState, tx: SignedTx, body: RevokeRole, height: int) -> None:
    _require_role(state, "GOVERNOR", tx.signer)
    holders = state.role_holders(body.role)
    if body.key not in holders:
        raise Failure(Code.ROLE_NOT_HELD, f"the key does not hold {body.role}")
    if body.role == "GOVERNOR" and len(holders) == 1:
        raise Failure(Code.LAST_GOVERNOR, "the last governor cannot be revoked")
    state.set_role_holders(body.role, [k for k in holders if k != body.key])


# ---------------------------------------------------------------- compliance


def _register(state: LedgerState, tx: SignedTx, body: RegisterParticipant, height: int) -> None:
    _require_role(state, "COMPLIANCE", tx.signer)
    old = state.participant(body.key)
    frozen = old.frozen if old is not None else False
    state.set_participant(body.key, ParticipantRecord(body.name, body.kyc_expiry_height, frozen))


def _set_frozen(frozen: bool) -> Callable[[LedgerState, SignedTx, Any, int], None]:
    def handler(state: LedgerState, tx: SignedTx, body: Freeze | Unfreeze, height: int) -> None:
        _require_role(state, "COMPLIANCE", tx.signer)
        record = state.participant(body.key)
        if record is None:
            raise Failure(Code.NOT_REGISTERED, "no such participant")
        state.set_participant(body.key, attrs.evolve(record, frozen=frozen))

    return handler


def _set_paused(paused: bool) -> Callable[[LedgerState, SignedTx, Any, int], None]:
    def handler(state: LedgerState, tx: SignedTx, body: Pause | Unpause, height: int) -> None:
        _require_role(state, "COMPLIANCE", tx.signer)
        record = _currency(state, body.currency)
        state.set_currency(body.currency, attrs.evolve(record, paused=paused))

    return handler


# ---------------------------------------------------------------- issuer


def _mint(state: LedgerState, tx: SignedTx, body: Mint, height: int) -> None:
    record = _currency(state, body.currency)
    _issuer(record, tx.signer, body.currency)
    _not_paused(record, body.currency)
    _active(state, body.to, height, "recipient")
    if state.deposit_ref_used(body.currency, body.deposit_ref):
        raise Failure(Code.DEPOSIT_REF_USED, f"deposit_ref {body.deposit_ref!r} was used")
    allowance = state.allowance(tx.signer, body.currency)
    if body.amount > allowance:
        raise Failure(Code.ALLOWANCE_EXCEEDED, f"the allowance is {allowance}")
    balance = state.balance(body.to, body.currency)
    if record.supply + body.amount > MAX_AMOUNT or record.minted + body.amount > MAX_U64:
        raise Failure(Code.OVERFLOW, f"the supply of {body.currency} would overflow")
    state.set_balance(body.to, body.currency, balance + body.amount)
    state.set_allowance(tx.signer, body.currency, allowance - body.amount)
    state.set_currency(body.currency, attrs.evolve(record, minted=record.minted + body.amount))
    state.use_deposit_ref(body.currency, body.deposit_ref, height)


def _redemption(state: LedgerState, redemption_id: bytes) -> RedemptionRecord:
    redemption = state.redemption(redemption_id)
    if redemption is None:
        raise Failure(Code.UNKNOWN_REDEMPTION, "no such pending redemption")
    return redemption


def _settle(state: LedgerState, tx: SignedTx, body: SettleRedemption, height: int) -> None:
    redemption = _redemption(state, body.redemption_id)
    record = _currency(state, redemption.currency)
    _issuer(record, tx.signer, redemption.currency)
    if state.payout_ref_used(redemption.currency, body.payout_ref):
        raise Failure(Code.PAYOUT_REF_USED, f"payout_ref {body.payout_ref!r} was used")
    state.set_currency(
        redemption.currency,
        attrs.evolve(
            record,
            pending=record.pending - redemption.amount,
            redeemed=record.redeemed + redemption.amount,
        ),
    )
    state.set_redemption(body.redemption_id, None)
    state.use_payout_ref(redemption.currency, body.payout_ref, height)


def _reject(state: LedgerState, tx: SignedTx, body: RejectRedemption, height: int) -> None:
    redemption = _redemption(state, body.redemption_id)
    record = _currency(state, redemption.currency)
    _issuer(record, tx.signer, redemption.currency)
    balance = state.balance(redemption.holder, redemption.currency)
    if balance + redemption.amount > MAX_AMOUNT:
        raise Failure(Code.OVERFLOW, "the holder's balance would overflow")
    state.set_balance(redemption.holder, redemption.currency, balance + redemption.amount)
    state.set_currency(
        redemption.currency, attrs.evolve(record, pending=record.pending - redemption.amount)
    )
    state.set_redemption(body.redemption_id, None)


# ---------------------------------------------------------------- participant


def _transfer(state: LedgerState, tx: SignedTx, body: Transfer, height: int) -> None:
    record = _currency(state, body.currency)
    _not_paused(record, body.currency)
    _active(state, body.sender, height, "sender")
    _active(state, body.recipient, height, "recipient")
    available = state.balance(body.sender, body.currency)
    if body.amount > available:
        raise Failure(Code.INSUFFICIENT_FUNDS, f"the balance is {available}")
    received = state.balance(body.recipient, body.currency)
    if received + body.amount > MAX_AMOUNT:
        raise Failure(Code.OVERFLOW, "the recipient's balance would overflow")
    state.set_balance(body.sender, body.currency, available - body.amount)
    state.set_balance(body.recipient, body.currency, received + body.amount)


def _redeem(state: LedgerState, tx: SignedTx, body: Redeem, height: int) -> None:
    record = _currency(state, body.currency)
    _not_paused(record, body.currency)
    _active(state, tx.signer, height, "holder")
    available = state.balance(tx.signer, body.currency)
    if body.amount > available:
        raise Failure(Code.INSUFFICIENT_FUNDS, f"the balance is {available}")
    if state.redemption(tx.tx_id) is not None:
        raise Failure(Code.REDEMPTION_EXISTS, "a redemption with this id is still pending")
    state.set_balance(tx.signer, body.currency, available - body.amount)
    state.set_currency(body.currency, attrs.evolve(record, pending=record.pending + body.amount))
    state.set_redemption(tx.tx_id, RedemptionRecord(tx.signer, body.currency, body.amount))


HANDLERS: dict[type, Callable[[LedgerState, SignedTx, Any, int], None]] = {
    AddCurrency: _add_currency,
    SetMintAllowance: _set_allowance,
    GrantRole: _grant,
    RevokeRole: _revoke,
    RegisterParticipant: _register,
    Freeze: _set_frozen(True),
    Unfreeze: _set_frozen(False),
    Pause: _set_paused(True),
    Unpause: _set_paused(False),
    Mint: _mint,
    SettleRedemption: _settle,
    RejectRedemption: _reject,
    Transfer: _transfer,
    Redeem: _redeem,
}


def execute_tx(state: LedgerState, tx: SignedTx, height: int) -> tuple[Code, str]:
    """Apply `tx` to `state` at `height`; return (OK, "") or the failure code and message."""
    try:
        HANDLERS[type(tx.body)](state, tx, tx.body, height)
    except Failure as failure:
        return failure.code, failure.message
    return Code.OK, ""
