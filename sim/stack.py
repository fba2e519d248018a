"""The real validator stack the simulator runs: keys, genesis, and `Replica.open` on a store.

Every validator is the production `Replica` with the deposit-token `LedgerApp`, its `Mempool`
and a store (in a run, the production `LmdbStore` on a simulated disk: `sim.disk_store`). Keys
come from the run's "keys" stream: Ed25519 seeds for real signatures, or the simulator's fast
MAC scheme. Clients of the workload (governor, compliance, issuer, participants, and spare keys
it onboards or grants roles to during a run) get keys from the same scheme.
"""

from __future__ import annotations

import random

import attrs

from consensus.crypto import ED25519, Ed25519Signer, SignatureScheme, Signer, VerifyMemo
from consensus.interfaces import Store
from consensus.messages import ValidatorSet
from consensus.replica.config import ReplicaConfig
from consensus.replica.decoded import DecodeMemo
from consensus.replica.replica import Replica
from consensus.timeouts import TimeoutConfig
from ledger.app import LedgerApp
from ledger.genesis import (
    Genesis,
    GenesisCurrency,
    GenesisParticipant,
    GenesisValidator,
    Limits,
    parse_genesis,
)
from ledger.mempool import Mempool
from ledger.store_memory import MemoryStore
from sim.config import SimConfig
from sim.fastsig import FastScheme
from sim.planted import core_flags

CHAIN_ID = "depositnet-sim"
PARTICIPANTS = 6
SPARES = 4
CURRENCIES: tuple[tuple[str, int], ...] = (("USD", 2), ("EUR", 2))
MINT_ALLOWANCE = 10**15
VIRTUAL_START_MS = 0
"""Virtual time when a run starts: the chain's genesis time (block 1 must be later)."""


@attrs.frozen
class Clients:
    governor: Signer
    compliance: Signer
    issuer: Signer
    participants: tuple[Signer, ...]
    spares: tuple[Signer, ...] = ()
    """Keys the workload onboards, grants roles to or makes issuers during a run."""

    def all(self) -> tuple[Signer, ...]:
        """Every client key, the genesis roles first."""
        return (self.governor, self.compliance, self.issuer, *self.participants, *self.spares)


@attrs.frozen
class World:
    """What every replica of a run shares.

    All instances live in one process, so they share what is a pure function of bytes: the
    scheme remembers signature verdicts (`VerifyMemo`) and `decoded` holds decoded peer
    messages, so a broadcast is decoded and its signature checked once, not once per
    receiver. Both belong to this run only (a bug planted for one run cannot leak into the
    next run of the same process)."""

    chain_id: str
    genesis: Genesis
    validators: ValidatorSet
    scheme: SignatureScheme
    replica_config: ReplicaConfig
    signers: tuple[Signer, ...]  # validator index -> signer
    clients: Clients
    decoded: DecodeMemo = attrs.field(factory=DecodeMemo, eq=False, repr=False)


def _signer_factory(config: SimConfig, rng: random.Random) -> tuple[SignatureScheme, object]:
    if config.signatures == "ed25519":
        return ED25519, lambda: Ed25519Signer(rng.getrandbits(256).to_bytes(32, "big"))
    scheme = FastScheme()
    return scheme, lambda: scheme.new_signer(rng)


def replica_config(config: SimConfig) -> ReplicaConfig:
    timeouts = TimeoutConfig(
        propose_ms=config.timeout_propose_ms,
        propose_delta_ms=config.timeout_propose_delta_ms,
        prevote_ms=config.timeout_prevote_ms,
        prevote_delta_ms=config.timeout_prevote_delta_ms,
        precommit_ms=config.timeout_precommit_ms,
        precommit_delta_ms=config.timeout_precommit_delta_ms,
    )
    return ReplicaConfig(
        timeouts=timeouts,
        max_block_txs=config.max_block_txs,
        create_empty_blocks=config.empty_block_interval_ms == 0,
        empty_block_interval_ms=max(1, config.empty_block_interval_ms),
        status_interval_ms=max(100, min(1000, config.timeout_propose_ms)),
        max_clock_drift_ms=clock_spread_bound_ms(config),
        bugs=core_flags(config.bugs),
    )


def clock_spread_bound_ms(config: SimConfig) -> int:
    """How far apart two correct validators' clocks can get in a run (each is off by at most
    the offset plus its drift over the run), plus a second: the replica's clock-drift bound,
    so that skewed clocks slow blocks down but stay within the model of correct nodes."""
    run_ms = config.safety_ms + config.liveness_ms
    drift_ms = -(-2 * config.clock_drift_max_ppm * run_ms // 1_000_000)
    return 1_000 + 2 * config.clock_offset_max_ms + drift_ms


def build_world(config: SimConfig, rng: random.Random) -> World:
    """Keys, genesis and replica settings of run `config`, drawn from `rng` (the keys stream)."""
    inner, new_signer = _signer_factory(config, rng)
    scheme = VerifyMemo(inner)
    signers = tuple(new_signer() for _ in range(config.validators))  # type: ignore[operator]
    clients = Clients(
        governor=new_signer(),  # type: ignore[operator]
        compliance=new_signer(),  # type: ignore[operator]
        issuer=new_signer(),  # type: ignore[operator]
        participants=tuple(new_signer() for _ in range(PARTICIPANTS)),  # type: ignore[operator]
        spares=tuple(new_signer() for _ in range(SPARES)),  # type: ignore[operator]
    )
    genesis = Genesis(
        chain_id=CHAIN_ID,
        validators=tuple(
            GenesisValidator(f"v{i}", s.public_key, config.powers[i]) for i, s in enumerate(signers)
        ),
        currencies=tuple(
            GenesisCurrency(code, scale, clients.issuer.public_key, MINT_ALLOWANCE)
            for code, scale in CURRENCIES
        ),
        governors=(clients.governor.public_key,),
        compliance=(clients.compliance.public_key,),
        limits=Limits(),
        participants=tuple(
            GenesisParticipant(p.public_key, f"p{i}", 10**9)
            for i, p in enumerate(clients.participants)
        ),
        genesis_time_ms=VIRTUAL_START_MS,
    )
    genesis = parse_genesis(genesis.to_mapping())  # the same validation a node applies
    return World(
        chain_id=genesis.chain_id,
        genesis=genesis,
        validators=genesis.validator_set(),
        scheme=scheme,
        replica_config=replica_config(config),
        signers=signers,
        clients=clients,
    )


def new_store() -> MemoryStore:
    """An initialized in-memory store (for tests that need a replica without a run)."""
    store = MemoryStore()
    Replica.initialize_store(store)
    return store


def open_replica(world: World, signer: Signer, store: Store) -> Replica:
    """A replica resuming from `store`, exactly as a restarted node would build it."""
    app = LedgerApp.from_store(world.genesis, store, world.scheme)
    return Replica.open(
        chain_id=world.chain_id,
        validators=world.validators,
        signer=signer,
        app=app,
        mempool=Mempool(app),
        store=store,
        scheme=world.scheme,
        config=world.replica_config,
        genesis_time_ms=world.genesis.genesis_time_ms,
        decoded=world.decoded,
    )
