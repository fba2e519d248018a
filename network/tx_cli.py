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
from ledger.tx import TX_ID_SIZE, derive_tx_id
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
from network.client_proofs import verify_saved_receipt
from network.journal import Entry, Journal, JournalError, check_label, journal_dir, nonce_for
from network.query_cli import add_node_options, emit, read_genesis, run_client
from network.tx_kinds import KINDS, KYC_FOREVER, height, summary

NOT_FINAL = 3


def describe(result: SubmitResult) -> str:
    verdict = "accepted" if result.accepted else ("already known" if result.known else "REJECTED")
    line = f"{verdict} by {result.node_url}: {result.code}"
    return line + (f" ({result.message})" if result.message else "")


def describe_final(final: FinalReceipt) -> str:
    return (
        f"final at height {final.height} (index {final.index}), outcome {final.code}, "
        "receipt verified"
    )


def final_json(final: FinalReceipt) -> dict[str, Any]:
    return {
        "final": True,
        "height": final.height,
        "index": final.index,
        "outcome": final.code,
        "outcome_message": final.message,
        "block_id": final.block_id.hex(),
        "block_time_ms": final.time_ms,
        "certified_power": final.certified_power,
        "total_power": final.total_power,
        "receipt": final.receipt.encode().hex(),
    }


def label_arg(text: str) -> str:
    try:
        return check_label(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--tx-id {text!r}: {exc}") from None


def _journal(args: argparse.Namespace) -> Journal:
    return Journal(journal_dir(args.journal))


def _load(journal: Journal, tx_id: bytes) -> Entry | None:
    try:
        return journal.load(tx_id)
    except JournalError as exc:
        raise CommandError(str(exc)) from None


def _save(journal: Journal, entry: Entry) -> None:
    try:
        journal.save(entry)
    except JournalError as exc:
        raise CommandError(str(exc)) from None


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
    journal = _journal(args)
    nonce = new_nonce() if args.tx_id is None else nonce_for(genesis.chain_id, args.tx_id)
    tx_id = derive_tx_id(signer.public_key, nonce)
    entry = _load(journal, tx_id)
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
            _save(journal, entry)  # before the first byte leaves
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
        _save(journal, attrs.evolve(entry, expired_at_height=exc.height))
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
        _save(journal, attrs.evolve(entry, receipt=final.receipt.encode()))
        lines.append(describe_final(final))
        data.update(final_json(final))
    emit(args, data, "\n".join(lines))
    if final is not None and final.code != "OK":
        why = f" ({final.message})" if final.message else ""
        print(f"depositnet: the transaction committed with {final.code}{why}", file=sys.stderr)
        return 1
    return 0


def _find(args: argparse.Namespace, journal: Journal, chain_id: str) -> Entry:
    """The journaled transaction `args.which` names: a tx id (hex) or a --tx-id text."""
    which = args.which
    if len(which) == 2 * TX_ID_SIZE:
        try:
            entry = _load(journal, bytes.fromhex(which))
        except ValueError:
            entry = None
        if entry is not None:
            return entry
    signer = None
    if args.key_file is not None:
        try:
            signer = load_signer(args.key_file).public_key
        except ClientError as exc:
            raise CommandError(str(exc)) from None
    try:
        found = [
            e
            for e in journal.entries()
            if e.label == which
            and e.chain_id == chain_id
            and (signer is None or from_wire(e.tx).signer == signer)
        ]
    except JournalError as exc:
        raise CommandError(str(exc)) from None
    if not found:
        raise CommandError(f"no journaled transaction {which!r} in {journal.directory}")
    if len(found) > 1:
        ids = ", ".join(e.tx_id.hex() for e in found)
        raise CommandError(f"{which!r} names {len(found)} journaled txs ({ids}): pass --key")
    return found[0]


def cmd_status(args: argparse.Namespace) -> int:
    """Show a journaled transaction and, once final, its receipt verified here."""
    genesis = read_genesis(args.genesis)
    journal = _journal(args)
    entry = _find(args, journal, genesis.chain_id)
    tx = from_wire(entry.tx)
    label = f" (--tx-id {entry.label!r})" if entry.label else ""
    lines = [f"tx {entry.tx_id.hex()}{label}: {summary(tx)}, valid until {tx.valid_until_ms} ms"]
    data: dict[str, Any] = {"tx_id": entry.tx_id.hex(), "label": entry.label, "tx": entry.tx.hex()}
    final = None
    if entry.receipt is not None:
        try:
            final = verify_saved_receipt(genesis, entry.receipt)
        except (ReceiptError, ClientError) as exc:
            lines.append(f"(the journaled receipt does not verify: {exc})")
        if final is not None and final.receipt.tx != entry.tx:
            final = None
    state = None
    if final is None:

        async def ask(client: DepositClient) -> tuple[FinalReceipt | None, dict[str, Any]]:
            found = await client.find_receipt(entry.tx)
            return found, ({} if found is not None else await client.tx(entry.tx_id))

        try:
            final, state = run_client(args, genesis, ask, keep=(TxIdUsed,))
        except TxIdUsed as exc:
            raise CommandError(str(exc)) from None
    if final is not None:
        _save(journal, attrs.evolve(entry, receipt=final.receipt.encode()))
        lines.append(describe_final(final))
        data.update(final_json(final))
        if args.save:
            _write_receipt(args.save, final.receipt.encode())
            lines.append(f"receipt ({len(final.receipt.encode())} bytes) saved to {args.save}")
        emit(args, data, "\n".join(lines))
        return 0 if final.code == "OK" else 1
    if entry.expired_at_height is not None:
        lines.append(f"expired (proven at height {entry.expired_at_height}): it can never commit")
    elif state:
        where = f"as of height {state.get('checked_height')}"
        lines.append(f"not final: {state.get('state')} ({where})")
    data.update(final=False, state=(state or {}).get("state"))
    emit(args, data, "\n".join(lines))
    return NOT_FINAL


def _write_receipt(path: str, data: bytes) -> None:
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


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
            type=float,
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
