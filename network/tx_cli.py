"""`depositnet tx KIND ...`: build, sign, submit and (with --wait) prove a transaction final.

The signer's key comes from `--key FILE`, the chain id and the trust root for `--wait` from
`--genesis FILE` (or DEPOSITNET_GENESIS): finality is verified against the genesis validators,
never taken on a validator's word. Amounts are integers in minor units (cents for USD); a
decimal point is refused rather than guessed at. Exit status: 0 accepted (or final with OK),
1 final with a failure outcome, 2 rejected or any other error (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from depositnet.cli import CommandError
from ledger import tx as T
from ledger.amounts import MAX_AMOUNT
from network.client import ClientError, DepositClient, FinalityProof, SubmitResult, load_signer
from network.query_cli import add_node_options, emit, parse_key, read_genesis, run_client

KYC_FOREVER = 2**63 - 1


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
        [("key", key, "participant")],
        lambda a, _s: T.Freeze(parse_key(a.key)),
    ),
    "unfreeze": (
        "unfreeze an account (compliance)",
        [("key", key, "participant")],
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


def describe(result: SubmitResult, tx_id: bytes) -> str:
    verdict = "accepted" if result.accepted else ("already known" if result.known else "REJECTED")
    line = f"tx {tx_id.hex()} {verdict} by {result.node_url}: {result.code}"
    return line + (f" ({result.message})" if result.message else "")


def describe_final(proof: FinalityProof, powers: tuple[int, int]) -> str:
    line = f"final at height {proof.height} (index {proof.index}), outcome {proof.code}"
    line += f"{' (' + proof.message + ')' if proof.message else ''}; certificate verified: "
    return line + f"{len(proof.commit.precommits)} precommits, power {powers[0]}/{powers[1]}"


def cmd_tx(args: argparse.Namespace) -> int:
    genesis = read_genesis(args.genesis)
    try:
        signer = load_signer(args.key_file)
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    body = KINDS[args.kind][2](args, signer.public_key)

    async def go(client: DepositClient) -> tuple[bytes, SubmitResult, FinalityProof | None]:
        tx_id, result = await client.send(signer, body, nonce=args.tx_id)
        proof = None
        if args.wait and result.ok:
            proof = await client.wait_final(tx_id, timeout_s=args.wait_timeout)
        return tx_id, result, proof

    tx_id, result, proof = run_client(args, genesis, go)
    lines = [describe(result, tx_id)]
    data: dict[str, Any] = {
        "tx_id": tx_id.hex(),
        "accepted": result.accepted,
        "code": result.code,
        "message": result.message,
        "node": result.node_url,
    }
    if not result.ok:
        if args.json:
            emit(args, data, lines[0])
        raise CommandError(f"rejected: {result.code}: {result.message or 'no reason given'}")
    if proof is not None:
        validators = genesis.validator_set()
        signed = sum(validators.power_of(v.validator) for v in proof.commit.precommits)
        lines.append(describe_final(proof, (signed, validators.total_power)))
        data.update(
            final=True,
            height=proof.height,
            index=proof.index,
            outcome=proof.code,
            outcome_message=proof.message,
            block_id=proof.block_id.hex(),
            certified_power=signed,
            total_power=validators.total_power,
        )
    emit(args, data, "\n".join(lines))
    if proof is not None and proof.code != "OK":
        print(f"depositnet: the transaction committed with {proof.code}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: Any) -> None:
    tx = subparsers.add_parser("tx", help="sign and submit a transaction")
    kinds = tx.add_subparsers(dest="kind", metavar="KIND", required=True)
    for name, (help_text, arguments, _build) in KINDS.items():
        p = kinds.add_parser(name, help=help_text, description=help_text)
        for arg, kind, arg_help in arguments:
            p.add_argument(arg, type=kind, help=arg_help)
        if name == "transfer":
            p.add_argument("--memo", default="", help="free text kept with the transfer")
        if name == "register":
            p.add_argument(
                "--kyc-expiry",
                type=height,
                default=KYC_FOREVER,
                metavar="HEIGHT",
                help="last height at which the participant may transact",
            )
        p.add_argument(
            "--key", dest="key_file", required=True, metavar="FILE", help="the signer's key file"
        )
        p.add_argument(
            "--genesis", metavar="FILE", help="genesis file (default $DEPOSITNET_GENESIS)"
        )
        p.add_argument("--tx-id", type=tx_id_hex, metavar="HEX", help="choose the tx id (retries)")
        p.add_argument(
            "--wait",
            action="store_true",
            help="wait until a certificate proves it final (verified here)",
        )
        p.add_argument("--wait-timeout", type=float, default=60.0, metavar="SECONDS")
        add_node_options(p)
        p.set_defaults(func=cmd_tx)
