"""`depositnet keys`: create and inspect node key files.

`generate --out FILE [--force]` writes a fresh Ed25519 key (mode 0600) and prints its public
key; `show FILE` prints the public key of an existing file, applying the same permission and
format checks the node applies when it starts.
"""

from __future__ import annotations

import argparse

from depositnet.cli import CommandError
from network.keys import KeyFileError, generate_key, load_key


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `keys` command and its actions."""
    keys = subparsers.add_parser("keys", help="create and inspect node key files")
    actions = keys.add_subparsers(dest="keys_action", metavar="ACTION", required=True)

    generate = actions.add_parser("generate", help="write a new Ed25519 key file (mode 0600)")
    generate.add_argument("--out", required=True, metavar="FILE", help="where to write the key")
    generate.add_argument("--force", action="store_true", help="replace an existing file")
    generate.set_defaults(func=_generate)

    show = actions.add_parser("show", help="print the public key of a key file")
    show.add_argument("file", metavar="FILE")
    show.set_defaults(func=_show)


def _generate(args: argparse.Namespace) -> int:
    try:
        signer = generate_key(args.out, force=args.force)
    except (KeyFileError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(signer.public_key.hex())
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        signer = load_key(args.file)
    except (KeyFileError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(signer.public_key.hex())
    return 0
