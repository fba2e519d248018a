"""`depositnet account KEY`, `depositnet block H`, `depositnet status`: read-only commands.

Each asks the validators named by `--node` (repeatable, or DEPOSITNET_NODE, comma-separated)
through the SDK and prints a small readable table (or `--json`). Problems become one line
through `CommandError`: an unreachable node, a malformed key, a missing block.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio

from depositnet.cli import CommandError
from ledger.genesis import Genesis, GenesisError, load_genesis, parse_genesis
from network.client import ClientError, DepositClient, RequestFailed

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 5.0


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < 10**7):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number of seconds")
    return value


def add_node_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node",
        action="append",
        metavar="URL",
        help="a validator's API URL (repeat for fallbacks; default $DEPOSITNET_NODE)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="how long one request to a validator may take",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def node_urls(args: argparse.Namespace) -> list[str]:
    urls: list[str] = list(args.node or [])
    if not urls:
        urls = [u.strip() for u in os.environ.get("DEPOSITNET_NODE", "").split(",") if u.strip()]
    if not urls:
        raise CommandError("no validator given: pass --node URL or set DEPOSITNET_NODE")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"--node {url!r}: expected an http:// or https:// URL")
    return urls


def read_genesis(path: str | None) -> Genesis:
    path = path or os.environ.get("DEPOSITNET_GENESIS")
    if not path:
        raise CommandError("no genesis file: pass --genesis PATH or set DEPOSITNET_GENESIS")
    try:
        return load_genesis(path)
    except GenesisError as exc:
        raise CommandError(f"genesis: {exc}") from None


def placeholder_genesis() -> Genesis:
    """For read-only commands: reads need no trust root (they verify nothing)."""
    return parse_genesis(
        {
            "chain_id": "unknown",
            "validators": [{"name": "x", "public_key": "00" * 32, "power": 1}],
            "governors": ["00" * 32],
            "compliance": [],
        }
    )


def run_client(
    args: argparse.Namespace,
    genesis: Genesis | None,
    action: Callable[[DepositClient], Awaitable[T]],
    *,
    keep: tuple[type[ClientError], ...] = (),
) -> T:
    """Run `action` with a client for the given nodes; SDK errors become CommandError
    (except those in `keep`, which the caller handles)."""
    urls = node_urls(args)

    async def main() -> T:
        chosen = genesis if genesis is not None else placeholder_genesis()
        async with DepositClient(urls, chosen, timeout_s=args.timeout) as client:
            return await action(client)

    try:
        return trio.run(main)
    except keep:
        raise
    except RequestFailed as exc:
        raise CommandError(f"{exc.code}: {exc.message}") from None
    except ClientError as exc:
        raise CommandError(str(exc)) from None


def parse_key(text: str) -> bytes:
    """A public key from 64 hex characters, or from a key file's path."""
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    if Path(text).is_file():
        from network.client import load_signer

        try:
            return load_signer(text).public_key
        except ClientError as exc:
            raise CommandError(str(exc)) from None
    raise CommandError(f"{text!r} is neither a 64-hex-character public key nor a key file")


def table(rows: Sequence[Sequence[object]], header: Sequence[str] | None = None) -> str:
    """Left-aligned columns separated by two spaces."""
    all_rows = [list(map(str, r)) for r in ([header] if header else []) + list(rows)]
    if not all_rows:
        return ""
    widths = [max(len(r[i]) for r in all_rows if i < len(r)) for i in range(len(all_rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in all_rows
    ]
    if header:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text, file=sys.stdout)


# ------------------------------------------------------------------ commands


def cmd_account(args: argparse.Namespace) -> int:
    key = parse_key(args.key)
    data = run_client(args, None, lambda c: c.account(key))
    rows: list[list[object]] = [
        ["key", data["public_key"]],
        ["registered", "yes" if data["registered"] else "no"],
        ["name", data["name"] or "-"],
        ["frozen", "yes" if data["frozen"] else "no"],
        [
            "kyc expiry height",
            data["kyc_expiry_height"] if data["kyc_expiry_height"] is not None else "-",
        ],
        ["at height", data["height"]],
    ]
    balances = sorted(data["balances"].items()) or [("-", 0)]
    rows += [[f"balance {code}", amount] for code, amount in balances]
    rows += [[f"redeeming {code}", n] for code, n in sorted(data["pending_redemptions"].items())]
    emit(args, data, table(rows))
    return 0


def cmd_block(args: argparse.Namespace) -> int:
    which = args.height
    if which != "latest" and not which.isdigit():
        raise CommandError(f"height {which!r}: expected a number or 'latest'")
    data = run_client(args, None, lambda c: c.block(which))
    h = data["header"]
    rows = [
        ["height", data["height"]],
        ["block id", data["block_id"]],
        ["time (ms)", h["time_ms"]],
        ["proposer", h["proposer"]],
        ["previous", h["prev_block_id"]],
        ["app hash", h["app_hash"]],
        [
            "signed by",
            f"{len(data['commit']['precommits'])} validators (round {data['commit']['round']})",
        ],
        ["transactions", data["tx_count"]],
    ]
    text = table(rows)
    if data["txs"]:
        txs = [
            [i, t["tx_id"] or "?", t["kind"] or "undecodable", (t["signer"] or "")[:16]]
            for i, t in enumerate(data["txs"])
        ]
        text += "\n\n" + table(txs, ["#", "tx id", "kind", "signer"])
    emit(args, data, text)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    urls = node_urls(args)

    async def gather(client: DepositClient) -> list[dict[str, Any]]:
        out = []
        for url in urls:  # one row per node: ask each one itself, no fallback
            single = DepositClient([url], client.genesis, timeout_s=args.timeout)
            try:
                out.append({"node": url, **(await single.status())})
            except ClientError as exc:
                out.append({"node": url, "error": str(exc)})
            finally:
                await single.aclose()
        return out

    results = run_client(args, None, gather)
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["node"], "down", "", "", "", "", ""])
            continue
        rows.append(
            [
                r["node"],
                r["height"],
                r["round"],
                r["step"],
                len(r["peers"]),
                "catching up" if r["catching_up"] else "in sync",
                f"{r['mempool_txs']} txs",
            ]
        )
    text = table(rows, ["node", "height", "round", "step", "peers", "sync", "mempool"])
    first = next((r for r in results if "error" not in r), None)
    if first is not None:
        vs = first["validators"]
        text += f"\n\nchain {first['chain_id']}: {len(vs['validators'])} validators, "
        text += f"total power {vs['total_power']}\n"
        text += table(
            [[v["name"], v["public_key"][:16], v["power"]] for v in vs["validators"]],
            ["validator", "key", "power"],
        )
    emit(args, results, text)
    return 0 if first is not None else 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("account", help="a participant's status and balances")
    p.add_argument("key", metavar="KEY", help="public key (64 hex) or a key file")
    add_node_options(p)
    p.set_defaults(func=cmd_account)
    p = subparsers.add_parser("block", help="a committed block and its certificate")
    p.add_argument("height", metavar="HEIGHT", help="a height or 'latest'")
    add_node_options(p)
    p.set_defaults(func=cmd_block)
    p = subparsers.add_parser("status", help="what each validator is doing (a table)")
    add_node_options(p)
    p.set_defaults(func=cmd_status)
