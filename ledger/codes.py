"""Stable result codes: every rejection and failure a client can see, spelled once.

Codes are part of the protocol: they are committed in transaction results (so every validator
records the same one) and shown to clients as they are. Never rename one; add new ones.
`STATIC_CODES` are decided by the transaction bytes and the block's time alone: such a
transaction can never be in a valid block. All other failure codes come from executing a
well-formed, signed transaction against the state; it commits with that code. Two of them,
ALREADY_COMMITTED and DUPLICATE_TX_ID, are a tx_id's later uses: a mempool refuses them at once,
and one that reaches a block anyway commits with that code and no effect.
"""

from __future__ import annotations

import enum


class Code(enum.StrEnum):
    """A stable, client-visible result code (its value is what goes on the wire)."""

    OK = "OK"

    # -- decoding and static checks (the transaction can never be in a valid block)
    TX_TOO_LARGE = "TX_TOO_LARGE"
    MALFORMED = "MALFORMED"
    TRAILING_BYTES = "TRAILING_BYTES"
    NON_CANONICAL = "NON_CANONICAL"
    BAD_VERSION = "BAD_VERSION"
    UNKNOWN_KIND = "UNKNOWN_KIND"
    WRONG_TYPE = "WRONG_TYPE"
    BAD_FIELD = "BAD_FIELD"
    AMOUNT_NOT_INTEGER = "AMOUNT_NOT_INTEGER"
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    MEMO_TOO_LARGE = "MEMO_TOO_LARGE"
    SELF_TRANSFER = "SELF_TRANSFER"
    NOT_OWNER = "NOT_OWNER"
    WRONG_CHAIN = "WRONG_CHAIN"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    EXPIRED = "EXPIRED"
    TOO_FAR_AHEAD = "TOO_FAR_AHEAD"
    DUPLICATE_IN_BLOCK = "DUPLICATE_IN_BLOCK"  # no longer produced (v2: a later use fails)

    # -- a tx_id's later uses (refused by a mempool; in a block: committed, no effect)
    ALREADY_COMMITTED = "ALREADY_COMMITTED"  # the very same transaction committed before
    DUPLICATE_TX_ID = "DUPLICATE_TX_ID"  # a different transaction committed with this id

    # -- mempool only
    MEMPOOL_FULL = "MEMPOOL_FULL"
    ALREADY_IN_MEMPOOL = "ALREADY_IN_MEMPOOL"

    # -- state failures (committed with this code)
    NOT_AUTHORIZED = "NOT_AUTHORIZED"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    CURRENCY_EXISTS = "CURRENCY_EXISTS"
    CURRENCY_PAUSED = "CURRENCY_PAUSED"
    NOT_ISSUER = "NOT_ISSUER"
    NOT_REGISTERED = "NOT_REGISTERED"
    ACCOUNT_FROZEN = "ACCOUNT_FROZEN"
    KYC_EXPIRED = "KYC_EXPIRED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    ALLOWANCE_EXCEEDED = "ALLOWANCE_EXCEEDED"
    DEPOSIT_REF_USED = "DEPOSIT_REF_USED"
    PAYOUT_REF_USED = "PAYOUT_REF_USED"
    UNKNOWN_REDEMPTION = "UNKNOWN_REDEMPTION"
    REDEMPTION_EXISTS = "REDEMPTION_EXISTS"
    OVERFLOW = "OVERFLOW"
    ROLE_ALREADY_HELD = "ROLE_ALREADY_HELD"
    ROLE_NOT_HELD = "ROLE_NOT_HELD"
    SELF_GRANT = "SELF_GRANT"
    LAST_GOVERNOR = "LAST_GOVERNOR"


STATIC_CODES: frozenset[Code] = frozenset(
    {
        Code.TX_TOO_LARGE,
        Code.MALFORMED,
        Code.TRAILING_BYTES,
        Code.NON_CANONICAL,
        Code.BAD_VERSION,
        Code.UNKNOWN_KIND,
        Code.WRONG_TYPE,
        Code.BAD_FIELD,
        Code.AMOUNT_NOT_INTEGER,
        Code.AMOUNT_OUT_OF_RANGE,
        Code.MEMO_TOO_LARGE,
        Code.SELF_TRANSFER,
        Code.NOT_OWNER,
        Code.WRONG_CHAIN,
        Code.BAD_SIGNATURE,
        Code.EXPIRED,
        Code.TOO_FAR_AHEAD,
    }
)
"""Codes that make a transaction unfit for any block (never committed as a result)."""

REUSE_CODES: frozenset[Code] = frozenset({Code.ALREADY_COMMITTED, Code.DUPLICATE_TX_ID})
"""Results of a tx_id's later uses: committed with no effect, never in the used-id index."""
