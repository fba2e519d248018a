"""The `depositnet` command.

Each feature registers its own subcommand through a small `register(subparsers)` function,
so this module stays a dispatcher and imports feature code only when it is asked to run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from depositnet import __version__

# Modules that contribute subcommands; each defines `register(subparsers) -> None` and sets
# `func` on the parsers it adds. Listed explicitly so the command's shape is visible here.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "network.testnet_init",
    "network.node_cli",
    "network.testnet",
    "sim.cli",
    "network.tx_cli",
    "network.query_cli",
    "network.keys_cli",
    "network.bench_cli",
)


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2, never a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depositnet",
        description="A Byzantine-fault-tolerant network for a bank-issued deposit token.",
    )
    parser.add_argument("--version", action="version", version=f"depositnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except CommandError as exc:
        print(f"depositnet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("depositnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
