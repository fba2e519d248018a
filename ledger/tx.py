"""Transaction values: what a client asks the ledger to do, one frozen class per kind.

Values only; the wire form and the sign bytes live in `ledger.txcodec`, signing in
`ledger.signing`. Every transaction travels in an envelope (`SignedTx`) carrying a 16-byte
`nonce` the client chooses, the signer's Ed25519 public key, the chain id, the latest chain
time at which it may commit (`valid_until_ms`, compared with block headers' times) and the
signature.

The tx_id rule. A transaction's id is derived, `tx_id = blake2b-128(tag || signer || nonce)`:
the client picks the nonce (its idempotency key: random, or derived from its own payment
reference), and only the holder of the signing key can make a transaction with that id. Were
ids simply client-chosen and global, anyone who saw a pending payment (a Byzantine validator,
say) could commit a transaction of its own under the same id first and lock the payer out of
it; scoping ids to the signer by construction rules that out while keeping one 16-byte id for
the index, receipts and the API. A tx_id commits at most once for the life of the chain. The
first transaction with an id to reach a block is the one that counts, whatever its outcome; an
exact re-send of it gets that first outcome back, and any other transaction with the same id is
refused (or, if it reaches a block anyway, commits as a failure with no effect). A client
retries by re-sending the bytes it signed, never by signing again under the same nonce.

Participant accounts are named by their 32-byte public key; currencies by a code of 3-12
uppercase letters.

The `Kind` numbers are the wire tags: never renumber them.
"""

from __future__ import annotations

import enum
import hashlib

import attrs

TX_ID_SIZE = 16
NONCE_SIZE = 16
_TX_ID_TAG = b"depositnet/tx_id/v1\x00"
KEY_SIZE = 32
SIGNATURE_SIZE = 64


class Kind(enum.IntEnum):
    """The wire tag of each transaction kind (grouped by the role that may send it)."""

    # governor
    ADD_CURRENCY = 1
    SET_MINT_ALLOWANCE = 2
    GRANT_ROLE = 3
    REVOKE_ROLE = 4
    # compliance
    REGISTER_PARTICIPANT = 10
    FREEZE = 11
    UNFREEZE = 12
    PAUSE = 13
    UNPAUSE = 14
    # issuer of a currency
    MINT = 20
    SETTLE_REDEMPTION = 21
    REJECT_REDEMPTION = 22
    # participant
    TRANSFER = 30
    REDEEM = 31


class Role(enum.StrEnum):
    """Roles a governor can grant or revoke (issuers are named per currency instead)."""

    GOVERNOR = "GOVERNOR"
    COMPLIANCE = "COMPLIANCE"


# ---------------------------------------------------------------- governor


@attrs.frozen
class AddCurrency:
    code: str
    scale: int  # minor-unit decimals, 0..18 (USD: 2)
    issuer: bytes  # the key allowed to mint and settle redemptions


@attrs.frozen
class SetMintAllowance:
    issuer: bytes  # must be the currency's issuer
    currency: str
    amount: int  # the new allowance (replaces the old one); 0 stops minting


@attrs.frozen
class GrantRole:
    role: str  # a Role value
    key: bytes


@attrs.frozen
class RevokeRole:
    role: str
    key: bytes


# ---------------------------------------------------------------- compliance


@attrs.frozen
class RegisterParticipant:
    """Onboard (or update) a KYC'd participant; its frozen flag is kept on update."""

    key: bytes
    name: str
    kyc_expiry_height: int  # the last height at which it may send or receive


@attrs.frozen
class Freeze:
    key: bytes


@attrs.frozen
class Unfreeze:
    key: bytes


@attrs.frozen
class Pause:
    currency: str


@attrs.frozen
class Unpause:
    currency: str


# ---------------------------------------------------------------- issuer


@attrs.frozen
class Mint:
    to: bytes
    currency: str
    amount: int
    deposit_ref: str  # the bank's reference of the backing deposit; usable once


@attrs.frozen
class SettleRedemption:
    """Burn a pending redemption: the bank has paid the money out (`payout_ref`, usable once)."""

    redemption_id: bytes  # the tx_id of the REDEEM transaction
    payout_ref: str


@attrs.frozen
class RejectRedemption:
    """Refuse a pending redemption: its tokens return to the holder."""

    redemption_id: bytes
    reason: str


# ---------------------------------------------------------------- participant


@attrs.frozen
class Transfer:
    sender: bytes  # must be the signer
    recipient: bytes
    currency: str
    amount: int
    memo: str = ""


@attrs.frozen
class Redeem:
    """Move `amount` of the signer's tokens into a pending redemption (id = this tx_id)."""

    currency: str
    amount: int


Body = (
    AddCurrency
    | SetMintAllowance
    | GrantRole
    | RevokeRole
    | RegisterParticipant
    | Freeze
    | Unfreeze
    | Pause
    | Unpause
    | Mint
    | SettleRedemption
    | RejectRedemption
    | Transfer
    | Redeem
)

KIND_OF: dict[type, Kind] = {
    AddCurrency: Kind.ADD_CURRENCY,
    SetMintAllowance: Kind.SET_MINT_ALLOWANCE,
    GrantRole: Kind.GRANT_ROLE,
    RevokeRole: Kind.REVOKE_ROLE,
    RegisterParticipant: Kind.REGISTER_PARTICIPANT,
    Freeze: Kind.FREEZE,
    Unfreeze: Kind.UNFREEZE,
    Pause: Kind.PAUSE,
    Unpause: Kind.UNPAUSE,
    Mint: Kind.MINT,
    SettleRedemption: Kind.SETTLE_REDEMPTION,
    RejectRedemption: Kind.REJECT_REDEMPTION,
    Transfer: Kind.TRANSFER,
    Redeem: Kind.REDEEM,
}
BODY_OF: dict[Kind, type] = {kind: cls for cls, kind in KIND_OF.items()}


def kind_of(body: Body) -> Kind:
    return KIND_OF[type(body)]


def derive_tx_id(signer: bytes, nonce: bytes) -> bytes:
    """The id of the transactions `signer` signs with `nonce` (see the module docstring)."""
    return hashlib.blake2b(_TX_ID_TAG + signer + nonce, digest_size=TX_ID_SIZE).digest()


@attrs.frozen
class UnsignedTx:
    """Everything a signature covers (with the chain id and a domain tag)."""

    nonce: bytes  # 16 bytes the client chooses: its idempotency key
    signer: bytes  # Ed25519 public key
    valid_until_ms: int  # the latest block time (chain time, ms) at which it may commit
    body: Body

    @property
    def tx_id(self) -> bytes:
        return derive_tx_id(self.signer, self.nonce)


@attrs.frozen
class SignedTx:
    """A decoded, well-formed transaction envelope (not necessarily correctly signed)."""

    chain_id: str
    nonce: bytes
    signer: bytes
    valid_until_ms: int
    body: Body
    signature: bytes
    tx_id: bytes = attrs.field(init=False, eq=False, repr=False)
    """Derived from the signer and the nonce, once (it is read many times per transaction)."""

    @tx_id.default
    def _derive(self) -> bytes:
        return derive_tx_id(self.signer, self.nonce)

    @property
    def kind(self) -> Kind:
        return kind_of(self.body)

    @property
    def unsigned(self) -> UnsignedTx:
        return UnsignedTx(self.nonce, self.signer, self.valid_until_ms, self.body)
