"""`depositnet node --config FILE`: run one validator until SIGINT or SIGTERM.

Start-up reads and validates everything (config, genesis, key file) before touching the network
or the disk, so an operator's mistake is one clear line and exit status 2. Once running, the
node prints one `ready` line (p2p and API ports) on stdout, which scripts such as
`depositnet testnet` wait for; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import signal

import trio

from consensus.interfaces import StoreError
from consensus.replica.config import ReplicaConfig
from depositnet.cli import CommandError
from ledger.genesis import Genesis, GenesisError, load_genesis
from ledger.store_keys import StoreFormatError
from network.config import ConfigError, NodeConfig, load_config
from network.gctune import tune_gc
from network.keys import KeyFileError, load_key
from network.logs import configure_logging, json_mode, ready_line
from network.node import NodeSettings, NodeStartError, ValidatorNode, init_store
from network.start_errors import genesis_error_line, sole_error

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = subparsers.add_parser("node", help="run one validator from its config file")
    node.add_argument("--config", required=True, metavar="FILE", help="the node's TOML config")
    node.add_argument(
        "--log-format",
        choices=("auto", "json", "human"),
        default="auto",
        help="JSON lines, human-readable, or auto (human on a terminal)",
    )
    node.set_defaults(func=_run)


def register_init(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`depositnet init node --config FILE`: create a new validator's store, once."""
    init = kinds.add_parser(
        "node", help="create a new validator's store (once, before its first start)"
    )
    init.add_argument("--config", required=True, metavar="FILE", help="the node's TOML config")
    init.set_defaults(func=_init_node)


def settings_from_config(config: NodeConfig) -> NodeSettings:
    """The node's settings from its validated config file."""
    return NodeSettings(
        data_dir=config.data_dir,
        listen_host=config.listen_host,
        listen_port=config.listen_port,
        peers=config.peers,
        api_host=config.api_host or "127.0.0.1",
        api_port=config.api_port,
        replica=ReplicaConfig(
            timeouts=config.timeouts,
            create_empty_blocks=config.blocks.create_empty_blocks,
            empty_block_interval_ms=config.blocks.empty_block_interval_ms,
            max_block_txs=config.blocks.max_block_txs,
            max_block_bytes=config.blocks.max_block_bytes,
        ),
        mempool_max_txs=config.mempool.max_txs,
        mempool_max_bytes=config.mempool.max_bytes,
        map_size_bytes=config.store.initial_map_size,
        store_growth_step=config.store.growth_step,
        store_min_free_disk=config.store.min_free_disk,
        transport=config.transport,
        allowed_peers=config.allowed_peers,
    )


def load_node(config_path: str) -> tuple[NodeConfig, Genesis, ValidatorNode]:
    """Read and validate everything a node needs; raises CommandError with one clear line."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"{exc.filename}: {exc.strerror}") from None
    try:
        genesis = load_genesis(config.genesis_file)
    except GenesisError as exc:
        raise CommandError(genesis_error_line(config.genesis_file, exc)) from None
    try:
        key = load_key(config.node_key_file)
    except KeyFileError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"{exc.filename}: {exc.strerror}") from None
    node = ValidatorNode(genesis=genesis, node_key=key, settings=settings_from_config(config))
    return config, genesis, node


def _run(args: argparse.Namespace) -> int:
    config, _, node = load_node(args.config)
    json_logs = {"auto": None, "json": True, "human": False}[args.log_format]
    configure_logging(config.log_level, json=json_logs)
    try:
        trio.run(_serve, node)
    except BaseException as exc:  # re-raised unless it is an operator mistake
        # The node starts inside nested nurseries: unwrap their exception groups so that a
        # missing store, a store in use or a port in use is one line, not a traceback.
        error = sole_error(exc)
        if isinstance(error, (StoreFormatError, StoreError, NodeStartError)):
            raise CommandError(str(error)) from None
        raise
    return 0


def _init_node(args: argparse.Namespace) -> int:
    config, _, node = load_node(args.config)
    try:
        init_store(node.settings)
    except (NodeStartError, StoreError) as exc:
        raise CommandError(str(exc)) from None
    print(f"created the store of validator {node.node_key.public_key.hex()} in {config.data_dir}")
    return 0


async def _serve(node: ValidatorNode) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            addresses = await nursery.start(node.run)
            tune_gc()  # after start-up: the loaded state is frozen out of later scans
            ready: dict[str, object] = {"p2p_port": addresses.p2p_port}
            ready["api_port"] = addresses.api_port
            ready["key"] = node.node_key.public_key.hex()
            print(ready_line(ready, json=json_mode()), flush=True)
            async for signum in signals:
                log.info("stopping on %s", signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
    log.info("stopped")
