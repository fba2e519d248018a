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
from network.start_errors import genesis_error_line

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
        raise CommandError(genesis_error_line(path, exc)) from None


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


KYC_FOREVER = 2**63 - 1
"""The KYC expiry height `depositnet tx register` uses when none is given: no expiry."""


def kyc_expiry_text(height: int | None) -> str:
    """A KYC expiry height as an operator reads it: `never` for no expiry, `-` for none."""
    if height is None:
        return "-"
    return "never" if height >= KYC_FOREVER else str(height)


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
        ["kyc expiry height", kyc_expiry_text(data["kyc_expiry_height"])],
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


def config_api_urls(genesis_path: str | None) -> dict[str, str | None]:
    """API URL -> validator key (hex, if its key file is readable here) of each node config
    (`*.toml`) next to a genesis file that names it, as `depositnet init testnet` writes them:
    how `status` finds every validator of a testnet from DEPOSITNET_GENESIS alone."""
    if not genesis_path:
        return {}
    from network.config import ConfigError, load_config
    from network.keys import KeyFileError, load_key

    genesis = Path(genesis_path).resolve()
    found: dict[str, str | None] = {}
    for path in sorted(genesis.parent.glob("*.toml")):
        try:
            config = load_config(path)
        except ConfigError:
            continue  # not a node config (or a broken one: `depositnet node` reports that)
        if config.genesis_file.resolve() != genesis or not config.api_port:
            continue
        host = config.api_host if config.api_host not in (None, "0.0.0.0", "::") else None
        try:
            key: str | None = load_key(config.node_key_file).public_key.hex()
        except (KeyFileError, OSError):
            key = None  # named by the node itself when it answers
        found[f"http://{host or '127.0.0.1'}:{config.api_port}"] = key
    return found


def status_urls(args: argparse.Namespace) -> tuple[list[str], dict[str, str | None]]:
    """Every validator API `status` can find: --node (if given, exactly those), else
    DEPOSITNET_NODE's list and the configs next to the genesis file; with the validator key
    each config names (to label a validator that does not answer)."""
    if args.node:
        return node_urls(args), {}
    found = [u.strip() for u in os.environ.get("DEPOSITNET_NODE", "").split(",") if u.strip()]
    configs = config_api_urls(args.genesis or os.environ.get("DEPOSITNET_GENESIS"))
    urls = list(dict.fromkeys(url.rstrip("/") for url in [*found, *configs]))
    if not urls:
        raise CommandError(
            "no validator given: pass --node URL, set DEPOSITNET_NODE, or set "
            "DEPOSITNET_GENESIS to a genesis with its nodes' configs beside it"
        )
    args.node = urls
    return node_urls(args), configs


def _genesis_validators(path: str | None) -> list[dict[str, Any]]:
    """The validators of the genesis file, if one is given and valid (else none)."""
    if not path:
        return []
    try:
        genesis = load_genesis(path)
    except GenesisError:
        return []
    return [
        {"public_key": v.public_key.hex(), "name": v.name, "power": v.power}
        for v in genesis.validator_set().validators
    ]


def cmd_status(args: argparse.Namespace) -> int:
    urls, config_keys = status_urls(args)

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
    first = next((r for r in results if "error" not in r), None)
    validators = (
        first["validators"]["validators"]
        if first is not None
        else _genesis_validators(args.genesis or os.environ.get("DEPOSITNET_GENESIS"))
    )
    names = {v["public_key"]: v["name"] for v in validators}
    rows = []
    for r in results:
        if "error" in r:
            r["node_key"] = config_keys.get(r["node"])
            name = names.get(r["node_key"] or "", "?")
            rows.append([r["node"], name, "unreachable", "", "", "", "", ""])
            continue
        rows.append(
            [
                r["node"],
                names.get(r.get("node_key", ""), "(not a validator)"),
                r["height"],
                r["round"],
                r["step"],
                len(r["peers"]),
                "catching up" if r["catching_up"] else "in sync",
                f"{r['mempool_txs']} txs",
            ]
        )
    seen = {r.get("node_key") for r in results}
    for v in validators:  # validators no known address reached: one row each too
        if v["public_key"] not in seen:
            rows.append(["(no API address known)", v["name"], "unknown", "", "", "", "", ""])
    text = table(rows, ["node", "validator", "height", "round", "step", "peers", "sync", "mempool"])
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
    p = subparsers.add_parser(
        "status",
        help="what each validator is doing (a table)",
        description="One row per validator: those given by --node, or else every one listed "
        "in DEPOSITNET_NODE and every node config beside the genesis file (--genesis or "
        "DEPOSITNET_GENESIS).",
    )
    add_node_options(p)
    p.add_argument("--genesis", metavar="PATH", help="default $DEPOSITNET_GENESIS")
    p.set_defaults(func=cmd_status)
