"""`depositnet tx status X`: a journaled transaction and, once final, its verified receipt.

X is the `--tx-id` text the transaction was sent with (or its tx id in hex). The journaled
receipt is checked offline against the genesis; without one, the validators are asked and
what they serve is verified here. Exit status: 0 final with OK, 1 final with a failure
outcome, 2 an error (one line), 3 not final (pending, unknown or proven expired). The helpers
the tx commands share (journal access, how a final transaction is printed) live here too.
"""

from __future__ import annotations

import argparse
from typing import Any

import attrs

from depositnet.cli import CommandError
from ledger.receipt import ReceiptError
from ledger.tx import TX_ID_SIZE
from ledger.txcodec import from_wire
from network.client import ClientError, DepositClient, FinalReceipt, TxIdUsed, load_signer
from network.client_proofs import verify_saved_receipt
from network.journal import Entry, Journal, JournalError, journal_dir
from network.query_cli import emit, read_genesis, run_client
from network.tx_kinds import summary

NOT_FINAL = 3


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


def open_journal(args: argparse.Namespace) -> Journal:
    return Journal(journal_dir(args.journal))


def load_entry(journal: Journal, tx_id: bytes) -> Entry | None:
    try:
        return journal.load(tx_id)
    except JournalError as exc:
        raise CommandError(str(exc)) from None


def save_entry(journal: Journal, entry: Entry) -> None:
    try:
        journal.save(entry)
    except JournalError as exc:
        raise CommandError(str(exc)) from None


def _find(args: argparse.Namespace, journal: Journal, chain_id: str) -> Entry:
    """The journaled transaction `args.which` names: a tx id (hex) or a --tx-id text."""
    which = args.which
    if len(which) == 2 * TX_ID_SIZE:
        try:
            entry = load_entry(journal, bytes.fromhex(which))
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
    journal = open_journal(args)
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
        save_entry(journal, attrs.evolve(entry, receipt=final.receipt.encode()))
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
