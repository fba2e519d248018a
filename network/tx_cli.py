"""`depositnet tx KIND ...` and `depositnet tx status X`: sign, journal, send, prove final.

Every transaction the CLI signs goes into the local journal (`network.journal`) before it is
sent. `--tx-id X` (any short text: an invoice number, say) fixes the nonce, hence the tx id:
asked again for the same body under the same X, the CLI re-sends the journaled bytes instead
of signing anew, so a retry can never pay twice; a different body under a used X is refused,
naming the first transaction. `--wait` submits and waits through `submit_and_wait` (re-sending
the same bytes to other validators until final or provably expired) and prints the receipt it
verified itself against the genesis; a retry of a final transaction prints that same first
receipt. `tx status X` shows a journaled transaction and its verified receipt.

The signer's key comes from `--key FILE`, the chain id and trust root from `--genesis FILE`
(or DEPOSITNET_GENESIS). Exit status: 0 accepted (or final with OK), 1 final with a failure
outcome, 2 refused or any other error (one line on stderr), 3 (`tx status`) not final.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import attrs

from depositnet.cli import CommandError
from ledger.receipt import ReceiptError
from ledger.signing import new_nonce
from ledger.tx import derive_tx_id
from ledger.txcodec import from_wire
from network.client import (
    ClientError,
    DepositClient,
    FinalReceipt,
    SubmitResult,
    TxExpired,
    TxIdUsed,
    load_signer,
)
from network.journal import Entry, Journal, check_label, nonce_for
from network.query_cli import (
    KYC_FOREVER,
    add_node_options,
    emit,
    read_genesis,
    run_client,
    seconds,
)
from network.tx_kinds import KINDS, height, summary
from network.tx_status_cli import (
    cmd_status,
    describe_final,
    final_json,
    load_entry,
    open_journal,
    save_entry,
)


def describe(result: SubmitResult) -> str:
    verdict = "accepted" if result.accepted else ("already known" if result.known else "REJECTED")
    line = f"{verdict} by {result.node_url}: {result.code}"
    return line + (f" ({result.message})" if result.message else "")


def label_arg(text: str) -> str:
    try:
        return check_label(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--tx-id {text!r}: {exc}") from None


def _first(entry: Entry) -> str:
    """The journaled transaction, named for an error message."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created_ms / 1000))
    return f"tx {entry.tx_id.hex()} ({summary(from_wire(entry.tx))}, signed {when})"


def cmd_tx(args: argparse.Namespace) -> int:
    genesis = read_genesis(args.genesis)
    try:
        signer = load_signer(args.key_file)
    except ClientError as exc:
        raise CommandError(str(exc)) from None
    body = KINDS[args.kind][2](args, signer.public_key)
    journal = open_journal(args)
    nonce = new_nonce() if args.tx_id is None else nonce_for(genesis.chain_id, args.tx_id)
    tx_id = derive_tx_id(signer.public_key, nonce)
    entry = load_entry(journal, tx_id)
    if entry is not None:
        first = from_wire(entry.tx)
        if entry.chain_id != genesis.chain_id or first.body != body:
            raise CommandError(
                f"--tx-id {args.tx_id!r} was already used for a different transaction: "
                f"{_first(entry)}; choose another --tx-id"
            )
    lines: list[str] = []

    async def go(client: DepositClient) -> tuple[SubmitResult | None, FinalReceipt | None]:
        nonlocal entry
        if entry is None or entry.expired_at_height is not None:
            _tx_id, wire = await client.prepare(signer, body, nonce=nonce)
            previous = () if entry is None else (*entry.superseded, entry.tx)
            now_ms = time.time_ns() // 1_000_000
            entry = Entry(tx_id, genesis.chain_id, wire, now_ms, args.tx_id, superseded=previous)
            save_entry(journal, entry)  # before the first byte leaves
            lines.append(f"tx {tx_id.hex()} signed, journaled in {journal.path(tx_id)}")
        else:
            lines.append(f"tx {tx_id.hex()} re-sent from the journal ({journal.path(tx_id)})")
        if args.wait:
            return None, await client.submit_and_wait(entry.tx, timeout_s=args.wait_timeout)
        result = await client.submit(entry.tx)
        if result.committed is None:
            return result, None
        try:
            return result, client.judge(result.node_url, result.committed, entry.tx)
        except ReceiptError as exc:
            lines.append(f"(the receipt {result.node_url} served does not verify: {exc})")
            return result, None

    try:
        result, final = run_client(args, genesis, go, keep=(TxExpired, TxIdUsed))
    except TxExpired as exc:
        assert entry is not None
        save_entry(journal, attrs.evolve(entry, expired_at_height=exc.height))
        again = "run the same command to sign it anew" if args.tx_id else "send it again"
        raise CommandError(f"{exc}; {again}") from None
    except TxIdUsed as exc:
        raise CommandError(str(exc)) from None
    assert entry is not None
    return _report(args, journal, entry, lines, result, final)


def _report(
    args: argparse.Namespace,
    journal: Journal,
    entry: Entry,
    lines: list[str],
    result: SubmitResult | None,
    final: FinalReceipt | None,
) -> int:
    data: dict[str, Any] = {"tx_id": entry.tx_id.hex(), "journal": str(journal.path(entry.tx_id))}
    if result is not None:
        data.update(
            accepted=result.accepted, code=result.code, message=result.message, node=result.node_url
        )
        if final is None:
            lines.append(describe(result))
        if not result.ok and final is None:
            if args.json:
                emit(args, data, "\n".join(lines))
            why = result.message or "no reason given"
            raise CommandError(f"tx {entry.tx_id.hex()} rejected: {result.code}: {why}")
    if final is not None:
        save_entry(journal, attrs.evolve(entry, receipt=final.receipt.encode()))
        lines.append(describe_final(final))
        data.update(final_json(final))
    emit(args, data, "\n".join(lines))
    if final is not None and final.code != "OK":
        why = f" ({final.message})" if final.message else ""
        print(f"depositnet: the transaction committed with {final.code}{why}", file=sys.stderr)
        return 1
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--genesis", metavar="FILE", help="genesis file (default $DEPOSITNET_GENESIS)")
    p.add_argument(
        "--journal",
        metavar="DIR",
        help="the journal of signed transactions (default $DEPOSITNET_JOURNAL, "
        "else ~/.depositnet/journal)",
    )
    add_node_options(p)


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
            "--tx-id",
            type=label_arg,
            metavar="TEXT",
            help="your own reference (an invoice number...): the same TEXT and body re-send "
            "the journaled transaction instead of signing a new one",
        )
        p.add_argument(
            "--wait",
            action="store_true",
            help="wait until final, re-sending the same bytes; print the verified receipt",
        )
        p.add_argument(
            "--wait-timeout",
            type=seconds,
            default=None,
            metavar="SECONDS",
            help="give up waiting after this long (default: until final or expired)",
        )
        _common(p)
        p.set_defaults(func=cmd_tx)
    p = kinds.add_parser(
        "status", help="a journaled transaction and its receipt", description=cmd_status.__doc__
    )
    p.add_argument("which", metavar="X", help="a --tx-id text or a tx id (hex)")
    p.add_argument("--key", dest="key_file", metavar="FILE", help="the signer (if X is ambiguous)")
    p.add_argument("--save", metavar="FILE", help="write the receipt's bytes to FILE")
    _common(p)
    p.set_defaults(func=cmd_status)
