"""The transaction kinds of `depositnet tx KIND ...`: their arguments and how each builds a body.

Amounts are integers in minor units (cents for USD); a decimal point is refused rather than
guessed at. Keys are 64 hex characters or a key file's path, resolved when the body is built
so a bad one is a one-line `CommandError`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import attrs

from ledger import tx as T
from ledger.amounts import MAX_AMOUNT
from network.query_cli import kyc_expiry_text, parse_key


def amount(text: str) -> int:
    if (
        not text.isascii()
        or not text.isdigit()
        or len(text) > 19
        or not 0 < int(text) <= MAX_AMOUNT
    ):
        raise argparse.ArgumentTypeError(
            f"{text!r}: an amount is a positive whole number of minor units (e.g. 1050 = $10.50)"
        )
    return int(text)


def allowance(text: str) -> int:
    return 0 if text == "0" else amount(text)


def tx_id_hex(text: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != T.TX_ID_SIZE:
        raise argparse.ArgumentTypeError(f"{text!r}: a tx id is {2 * T.TX_ID_SIZE} hex characters")
    return value


def height(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a height")
    return int(text)


def key(text: str) -> str:
    return text  # resolved later (hex or key file) so errors are CommandErrors


# kind name -> (help, [(argument, type, help)], build(args, signer_public_key) -> Body)
Builder = Callable[[argparse.Namespace, bytes], T.Body]
KINDS: dict[str, tuple[str, list[tuple[str, Any, str]], Builder]] = {
    "register": (
        "onboard or update a participant (compliance)",
        [("account", key, "participant public key or key file"), ("name", str, "display name")],
        lambda a, _s: T.RegisterParticipant(parse_key(a.account), a.name, a.kyc_expiry),
    ),
    "freeze": (
        "freeze an account (compliance)",
        [("account", key, "participant")],
        lambda a, _s: T.Freeze(parse_key(a.account)),
    ),
    "unfreeze": (
        "unfreeze an account (compliance)",
        [("account", key, "participant")],
        lambda a, _s: T.Unfreeze(parse_key(a.account)),
    ),
    "pause": (
        "pause a currency (compliance)",
        [("currency", str, "e.g. USD")],
        lambda a, _s: T.Pause(a.currency),
    ),
    "unpause": (
        "unpause a currency (compliance)",
        [("currency", str, "e.g. USD")],
        lambda a, _s: T.Unpause(a.currency),
    ),
    "mint": (
        "mint against a received deposit (issuer)",
        [
            ("to", key, "recipient"),
            ("currency", str, "e.g. USD"),
            ("amount", amount, "minor units"),
            ("deposit_ref", str, "the bank's deposit reference"),
        ],
        lambda a, _s: T.Mint(parse_key(a.to), a.currency, a.amount, a.deposit_ref),
    ),
    "transfer": (
        "send tokens (participant)",
        [
            ("to", key, "recipient"),
            ("currency", str, "e.g. USD"),
            ("amount", amount, "minor units"),
        ],
        lambda a, s: T.Transfer(s, parse_key(a.to), a.currency, a.amount, a.memo),
    ),
    "redeem": (
        "ask the issuer to pay tokens out to your bank account (participant)",
        [("currency", str, "e.g. USD"), ("amount", amount, "minor units")],
        lambda a, _s: T.Redeem(a.currency, a.amount),
    ),
    "settle": (
        "burn a pending redemption once paid out (issuer)",
        [("redemption_id", tx_id_hex, "the REDEEM tx id"), ("payout_ref", str, "payout reference")],
        lambda a, _s: T.SettleRedemption(a.redemption_id, a.payout_ref),
    ),
    "reject-redemption": (
        "refuse a pending redemption; tokens go back (issuer)",
        [("redemption_id", tx_id_hex, "the REDEEM tx id"), ("reason", str, "why")],
        lambda a, _s: T.RejectRedemption(a.redemption_id, a.reason),
    ),
    "add-currency": (
        "create a currency (governor)",
        [
            ("code", str, "e.g. EUR"),
            ("scale", height, "minor-unit decimals"),
            ("issuer", key, "issuer"),
        ],
        lambda a, _s: T.AddCurrency(a.code, a.scale, parse_key(a.issuer)),
    ),
    "set-allowance": (
        "set an issuer's mint allowance (governor)",
        [
            ("issuer", key, "issuer"),
            ("currency", str, "e.g. USD"),
            ("amount", allowance, "minor units"),
        ],
        lambda a, _s: T.SetMintAllowance(parse_key(a.issuer), a.currency, a.amount),
    ),
    "grant-role": (
        "grant GOVERNOR or COMPLIANCE (governor)",
        [("role", str, "GOVERNOR or COMPLIANCE"), ("account", key, "grantee")],
        lambda a, _s: T.GrantRole(a.role, parse_key(a.account)),
    ),
    "revoke-role": (
        "revoke GOVERNOR or COMPLIANCE (governor)",
        [("role", str, "GOVERNOR or COMPLIANCE"), ("account", key, "holder")],
        lambda a, _s: T.RevokeRole(a.role, parse_key(a.account)),
    ),
}


def _short(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()[:16]
    return repr(value) if isinstance(value, str) else str(value)


def summary(tx: T.SignedTx) -> str:
    """One line naming a transaction: its kind, body fields and signer (keys shortened)."""
    body = attrs.asdict(tx.body, recurse=False)
    fields = " ".join(
        f"{k}={kyc_expiry_text(v) if k == 'kyc_expiry_height' else _short(v)}"
        for k, v in body.items()
    )
    return f"{tx.kind.name} {fields} signed by {tx.signer.hex()[:16]}"
