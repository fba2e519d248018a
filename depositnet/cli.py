"""The `depositnet` command.

Each feature registers its own subcommands through a small `register(subparsers)` function.
To keep every call fast (a CLI call should not pay for importing the HTTP server or the
simulator it does not use), only the module of the command being run is imported; the other
commands are listed from the table below for `--help`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from depositnet import __version__

# command -> (module whose `register(subparsers)` adds it, one-line help). A module may add
# several commands (query_cli adds account, block and status).
COMMANDS: dict[str, tuple[str, str]] = {
    "testnet": ("network.testnet", "run a local network of validators doing real transfers"),
    "init": ("network.testnet_init", "create the files of a network or of one validator"),
    "node": ("network.node_cli", "run one validator from its config file"),
    "keys": ("network.keys_cli", "create and inspect key files"),
    "tx": ("network.tx_cli", "sign, journal and submit a transaction; show its receipt"),
    "receipt": ("network.receipt_cli", "check a saved receipt offline"),
    "account": ("network.query_cli", "a participant's status and balances"),
    "block": ("network.query_cli", "a committed block and its certificate"),
    "status": ("network.query_cli", "what each validator is doing (a table)"),
    "sim": ("sim.cli", "the deterministic simulator"),
    "bench": ("network.bench_cli", "benchmarks of the network and the simulator"),
}


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2, never a traceback."""


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with the full parser of the command named in `argv` (if any)."""
    parser = argparse.ArgumentParser(
        prog="depositnet",
        description="A Byzantine-fault-tolerant network for a bank-issued deposit token.",
    )
    parser.add_argument("--version", action="version", version=f"depositnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    loaded = COMMANDS[command][0] if command in COMMANDS else None
    if loaded is not None:
        importlib.import_module(loaded).register(subparsers)
    for name, (module, help_text) in COMMANDS.items():
        if module != loaded:
            subparsers.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
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
    except BrokenPipeError:  # the reader went away (`depositnet status | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    # Run as `python -m depositnet.cli`: call the imported module's main, so that feature
    # modules and this script share one `CommandError` class.
    from depositnet.cli import main as _main

    sys.exit(_main())
