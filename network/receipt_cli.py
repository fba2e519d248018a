"""`depositnet receipt verify FILE`: check a saved receipt offline, against the genesis only.

A receipt (`depositnet tx status X --save FILE`, `GET /txs/{id}/receipt`, or the hex of a
`GET /txs/{id}` answer's `receipt`) proves on its own that a transaction committed and with
which outcome: this command needs no validator, only the genesis file, and trusts nothing
else. The file holds the receipt's bytes, or their hex. Exit status: 0 the receipt proves
its transaction final (whatever its outcome), 2 it proves nothing (one line says why).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from depositnet.cli import CommandError
from ledger.receipt import MAX_RECEIPT_BYTES, ReceiptError
from network.client import ClientError
from network.client_proofs import verify_saved_receipt
from network.query_cli import emit, read_genesis
from network.tx_kinds import summary


def read_receipt(path: str) -> bytes:
    """A receipt's bytes from `path` (raw, or hex text); CommandError if unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read(2 * MAX_RECEIPT_BYTES + 2)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    text = data.strip()
    if text and all(c in b"0123456789abcdefABCDEF" for c in text):
        try:
            return bytes.fromhex(text.decode("ascii"))
        except ValueError:
            pass  # an odd number of hex digits: treat as raw bytes
    return data


def cmd_verify(args: argparse.Namespace) -> int:
    genesis = read_genesis(args.genesis)
    raw = read_receipt(args.file)
    try:
        final = verify_saved_receipt(genesis, raw)
    except (ReceiptError, ClientError) as exc:
        raise CommandError(f"{args.file}: the receipt proves nothing: {exc}") from None
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(final.time_ms / 1000))
    lines = [
        f"receipt verified against genesis {genesis.chain_id!r} ({len(raw)} bytes):",
        f"tx {final.tx_id.hex()}: {summary(final.proved.tx)}",
        f"final at height {final.height} (index {final.index}), outcome {final.code}",
        f"block {final.block_id.hex()} at {when}, "
        f"certified by power {final.certified_power}/{final.total_power}",
    ]
    data: dict[str, Any] = {
        "verified": True,
        "tx_id": final.tx_id.hex(),
        "height": final.height,
        "index": final.index,
        "outcome": final.code,
        "block_id": final.block_id.hex(),
        "block_time_ms": final.time_ms,
        "certified_power": final.certified_power,
        "total_power": final.total_power,
        "size_bytes": len(raw),
    }
    emit(args, data, "\n".join(lines))
    return 0


def register(subparsers: Any) -> None:
    receipt = subparsers.add_parser("receipt", help="check a saved receipt offline")
    commands = receipt.add_subparsers(dest="receipt_command", metavar="COMMAND", required=True)
    p = commands.add_parser(
        "verify", help="verify a saved receipt against the genesis", description=__doc__
    )
    p.add_argument("file", metavar="FILE", help="the receipt (raw bytes or hex)")
    p.add_argument("--genesis", metavar="FILE", help="genesis file (default $DEPOSITNET_GENESIS)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_verify)
