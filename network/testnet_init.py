"""`depositnet init testnet`: everything a local N-validator network needs, in one directory.

Layout written under DIR (and summarised by `TestnetLayout`):

    genesis.json                chain id, validators, USD and EUR with their issuers, roles
    node{i}.toml, node{i}.key   one config and node key per validator (127.0.0.1 ports)
    keys/{role}.key             demo keys: governor, compliance, issuer-usd, issuer-eur and
                                participants (onboarded by `depositnet testnet`, not at genesis)

Key files are written with mode 0600 by `network.keys`. Ports are consecutive from
`base_port`: validator i listens on base_port + 2i (peers) and base_port + 2i + 1 (API).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

from consensus.crypto import Ed25519Signer
from depositnet.cli import CommandError
from ledger.genesis import Genesis, parse_genesis
from network.keys import KeyFileError, write_key
from network.node import NodeSettings, init_store
from network.node_cli import register_init as register_init_node

MAX_VALIDATORS = 64
DEMO_PARTICIPANTS = ("acme-treasury", "globex-payments", "initech-fx", "umbrella-ops")
MINT_ALLOWANCE = 10**15  # minor units each issuer may mint (10 trillion dollars in cents)


@attrs.frozen
class TestnetLayout:
    """Where `init_testnet` put everything, with the keys it made."""

    __test__ = False  # not a pytest class

    directory: Path
    genesis: Genesis
    configs: tuple[Path, ...]
    validator_keys: tuple[Ed25519Signer, ...]
    api_ports: tuple[int, ...]
    p2p_ports: tuple[int, ...]
    roles: dict[str, Ed25519Signer]  # governor, compliance, issuer-usd, issuer-eur
    participants: dict[str, Ed25519Signer]

    @property
    def genesis_path(self) -> Path:
        return self.directory / "genesis.json"

    @property
    def api_urls(self) -> tuple[str, ...]:
        return tuple(f"http://127.0.0.1:{port}" for port in self.api_ports)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = subparsers.add_parser("init", help="create the files of a network")
    kinds = init.add_subparsers(dest="init_kind", metavar="KIND", required=True)
    testnet = kinds.add_parser("testnet", help="keys, genesis and configs of a local network")
    testnet.add_argument("--validators", type=int, default=4, metavar="N")
    testnet.add_argument("--dir", required=True, metavar="DIR", help="an empty or new directory")
    testnet.add_argument("--base-port", type=int, default=26656, metavar="PORT")
    testnet.add_argument("--chain-id", default="depositnet-local")
    testnet.set_defaults(func=_run)
    register_init_node(kinds)


def _run(args: argparse.Namespace) -> int:
    base = args.base_port
    ports = [base + k for k in range(2 * args.validators)]
    layout = init_testnet(
        Path(args.dir),
        validators=args.validators,
        p2p_ports=ports[0::2],
        api_ports=ports[1::2],
        chain_id=args.chain_id,
    )
    print(f"wrote a {args.validators}-validator testnet to {layout.directory}")
    for i, config in enumerate(layout.configs):
        print(f"  depositnet node --config {config}    # API {layout.api_urls[i]}")
    return 0


def init_testnet(
    directory: Path,
    *,
    validators: int,
    p2p_ports: Sequence[int],
    api_ports: Sequence[int],
    chain_id: str = "depositnet-local",
    config_extra: str = "",
) -> TestnetLayout:
    """Write a testnet into `directory` (created if needed; must hold no files)."""
    if not 1 <= validators <= MAX_VALIDATORS:
        raise CommandError(f"--validators: expected 1..{MAX_VALIDATORS}, got {validators}")
    if len(p2p_ports) != validators or len(api_ports) != validators:
        raise CommandError("one p2p port and one API port per validator are needed")
    all_ports = [*p2p_ports, *api_ports]
    if any(not 1 <= p <= 65535 for p in all_ports) or len(set(all_ports)) != len(all_ports):
        raise CommandError(f"ports must be distinct and within 1..65535, got {all_ports}")
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise CommandError(f"{directory} is not empty: choose a new directory")
    (directory / "keys").mkdir()

    try:
        node_keys = tuple(_new_key(directory / f"node{i}.key") for i in range(validators))
        roles = {
            name: _new_key(directory / "keys" / f"{name}.key")
            for name in ("governor", "compliance", "issuer-usd", "issuer-eur")
        }
        participants = {
            name: _new_key(directory / "keys" / f"{name}.key") for name in DEMO_PARTICIPANTS
        }
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None

    genesis = parse_genesis(
        {
            "chain_id": chain_id,
            "genesis_time_ms": time.time_ns() // 1_000_000,  # chain time starts now, not 1970
            "validators": [
                {"name": f"bank-{i}", "public_key": key.public_key.hex(), "power": 10}
                for i, key in enumerate(node_keys)
            ],
            "currencies": [
                {
                    "code": code,
                    "scale": 2,
                    "issuer": roles[f"issuer-{code.lower()}"].public_key.hex(),
                    "mint_allowance": MINT_ALLOWANCE,
                }
                for code in ("USD", "EUR")
            ],
            "governors": [roles["governor"].public_key.hex()],
            "compliance": [roles["compliance"].public_key.hex()],
        }
    )
    (directory / "genesis.json").write_text(json.dumps(genesis.to_mapping(), indent=2) + "\n")

    configs = []
    for i in range(validators):
        path = directory / f"node{i}.toml"
        path.write_text(
            _config_text(i, node_keys, p2p_ports, api_ports) + config_extra, encoding="utf-8"
        )
        configs.append(path)
        init_store(NodeSettings(data_dir=directory / "data" / f"node{i}"))
    return TestnetLayout(
        directory=directory.resolve(),
        genesis=genesis,
        configs=tuple(configs),
        validator_keys=node_keys,
        api_ports=tuple(api_ports),
        p2p_ports=tuple(p2p_ports),
        roles=roles,
        participants=participants,
    )


def _new_key(path: Path) -> Ed25519Signer:
    signer = Ed25519Signer.generate()
    write_key(path, signer)
    return signer


def _config_text(
    index: int,
    node_keys: Sequence[Ed25519Signer],
    p2p_ports: Sequence[int],
    api_ports: Sequence[int],
) -> str:
    lines = [
        f"# validator bank-{index} of a local testnet (written by `depositnet init testnet`)",
        f'node_key_file = "node{index}.key"',
        'genesis_file = "genesis.json"',
        f'data_dir = "data/node{index}"',
        f'listen_address = "127.0.0.1:{p2p_ports[index]}"',
        f'api_address = "127.0.0.1:{api_ports[index]}"',
        'log_level = "INFO"',
        "",
    ]
    for j, key in enumerate(node_keys):
        if j != index:
            lines += [
                "[[peers]]",
                f'address = "127.0.0.1:{p2p_ports[j]}"',
                f'public_key = "{key.public_key.hex()}"',
                "",
            ]
    return "\n".join(lines)
