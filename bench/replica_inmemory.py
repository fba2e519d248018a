"""Heights and transfers per second of 4 full replicas in one process, real Ed25519 signatures.

Every replica is the production `Replica` with the deposit-token `LedgerApp`, its `Mempool` and a
store (in memory by default, LMDB with `--lmdb`); a small event loop delivers payloads with a
fixed virtual latency and executes effects in order, as the drivers do. Wall time is measured,
so the figures are the CPU cost of consensus + gossip + execution for all four validators on
this one process (a real deployment spreads that over four machines). Run from the repo root:

    python bench/replica_inmemory.py [--heights 200] [--transfers 4000] [--lmdb]
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from consensus.crypto import Ed25519Signer
from consensus.interfaces import Store
from consensus.replica import events as ev
from consensus.replica.config import ReplicaConfig
from consensus.replica.replica import Replica
from consensus.timeouts import TimeoutConfig
from ledger.app import LedgerApp
from ledger.genesis import Genesis, GenesisCurrency, GenesisParticipant, GenesisValidator
from ledger.mempool import Mempool
from ledger.signing import make_tx
from ledger.store_lmdb import LmdbStore
from ledger.store_memory import MemoryStore
from ledger.tx import Mint, Transfer

CHAIN = "bench"
LATENCY_MS = 2


def key(name: str) -> Ed25519Signer:
    return Ed25519Signer(hashlib.blake2b(name.encode(), digest_size=32).digest())


class Cluster:
    def __init__(self, n: int, users: int, lmdb_dir: Path | None, max_block_txs: int) -> None:
        self.validators_keys = [key(f"v{i}") for i in range(n)]
        self.issuer = key("issuer")
        self.users = [key(f"user{i}") for i in range(users)]
        self.genesis = Genesis(
            chain_id=CHAIN,
            validators=tuple(
                GenesisValidator(f"v{i}", s.public_key, 10)
                for i, s in enumerate(self.validators_keys)
            ),
            currencies=(GenesisCurrency("USD", 2, self.issuer.public_key, 10**15),),
            governors=(key("gov").public_key,),
            compliance=(key("comp").public_key,),
            participants=tuple(
                GenesisParticipant(u.public_key, f"u{i}", 10**6) for i, u in enumerate(self.users)
            ),
        )
        timeouts = TimeoutConfig(propose_ms=1000, prevote_ms=500, precommit_ms=500)
        self.config = ReplicaConfig(
            timeouts=timeouts, max_block_txs=max_block_txs, tx_flush_interval_ms=5
        )
        self.now = 0
        self._seq = 0
        self.heap: list[tuple[int, int, Callable[[], None]]] = []
        self.keys = [s.public_key for s in self.validators_keys]
        self.replicas: list[Replica] = []
        self.stores: list[Store] = []
        self.mempools: list[Mempool] = []
        self.refused: dict[str, int] = {}  # admission codes of refused submissions
        for i, signer in enumerate(self.validators_keys):
            store: Store = (
                MemoryStore()
                if lmdb_dir is None
                else LmdbStore.open(lmdb_dir / f"n{i}", map_size=1 << 31)
            )
            Replica.initialize_store(store)
            app = LedgerApp.from_store(self.genesis, store)
            mempool = Mempool(app, max_count=100_000, max_bytes=1 << 28)
            replica = Replica.open(
                chain_id=CHAIN,
                validators=self.genesis.validator_set(),
                signer=signer,
                app=app,
                mempool=mempool,
                store=store,
                config=self.config,
            )
            self.replicas.append(replica)
            self.stores.append(store)
            self.mempools.append(mempool)
        for i, replica in enumerate(self.replicas):
            self.run(i, replica.start(0))
        for i, replica in enumerate(self.replicas):
            for k in self.keys:
                if k != self.keys[i]:
                    self.run(i, replica.handle(ev.PeerConnected(k), 0))

    def at(self, t: int, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (t, self._seq, action))

    def run(self, i: int, effects: list[ev.ReplicaEffect]) -> None:
        for e in effects:
            if isinstance(e, ev.PersistSignState):
                self.stores[i].save_sign_state(e.data)
            elif isinstance(e, ev.CommitBlock):
                self.stores[i].save_height(e.record)
            elif isinstance(e, ev.SendTo):
                self.deliver(i, self.keys.index(e.peer), e.payload)
            elif isinstance(e, ev.BroadcastPayload):
                for j in range(len(self.keys)):
                    if j != i:
                        self.deliver(i, j, e.payload)
            elif isinstance(e, ev.SetTimer):
                self.at(max(e.deadline_ms, self.now), self._firing(i, ev.TimerFired(e.timer)))
            elif isinstance(e, ev.TxAdmitted) and not e.admission.accepted:
                code = e.admission.code
                self.refused[code] = self.refused.get(code, 0) + 1

    def _firing(self, i: int, event: ev.ReplicaEvent) -> Callable[[], None]:
        return lambda: self.call(i, event)

    def deliver(self, src: int, dst: int, payload: bytes) -> None:
        event = ev.MessageReceived(self.keys[src], payload)
        self.at(self.now + LATENCY_MS, lambda: self.call(dst, event))

    def call(self, i: int, event: ev.ReplicaEvent) -> None:
        self.run(i, self.replicas[i].handle(event, self.now))

    def run_until(self, done: Callable[[], bool]) -> None:
        while not done():
            t, _, action = heapq.heappop(self.heap)
            self.now = max(self.now, t)
            action()

    def height(self) -> int:
        return min(s.last_height() for s in self.stores)

    def close(self) -> None:
        for store in self.stores:
            store.close()


def bench_heights(heights: int, lmdb_dir: Path | None) -> float:
    cluster = Cluster(4, 2, lmdb_dir, 1000)
    start = time.perf_counter()
    cluster.run_until(lambda: cluster.height() >= heights)
    elapsed = time.perf_counter() - start
    cluster.close()
    return heights / elapsed


def bench_transfers(count: int, lmdb_dir: Path | None) -> tuple[float, float, int]:
    users = 64
    cluster = Cluster(4, users, lmdb_dir, 1000)
    counter = 0
    window_ms = cluster.genesis.limits.max_validity_window_ms

    def nonce() -> bytes:
        nonlocal counter
        counter += 1
        return counter.to_bytes(16, "big")

    for u in range(users):  # fund every user first (not timed)
        tx = make_tx(
            cluster.issuer,
            CHAIN,
            Mint(cluster.users[u].public_key, "USD", 10**9, f"d{u}"),
            nonce=nonce(),
            valid_until_ms=cluster.now + window_ms,
        )
        cluster.call(u % 4, ev.TxSubmitted(tx))
    cluster.run_until(lambda: all(len(m) == 0 for m in cluster.mempools))
    # Valid for the chain's window from the (virtual) time they are signed: the whole run
    # takes a few virtual seconds.
    until_ms = cluster.now + window_ms
    txs = [
        make_tx(
            cluster.users[i % users],
            CHAIN,
            Transfer(
                cluster.users[i % users].public_key,
                cluster.users[(i + 1) % users].public_key,
                "USD",
                1 + i % 100,
            ),
            nonce=nonce(),
            valid_until_ms=until_ms,
        )
        for i in range(count)
    ]
    first = cluster.height()
    start = time.perf_counter()
    for i, tx in enumerate(txs):  # a stream: each client sends to "its" validator
        cluster.call(i % 4, ev.TxSubmitted(tx))
    cluster.run_until(lambda: all(len(m) == 0 for m in cluster.mempools))
    elapsed = time.perf_counter() - start
    blocks = cluster.height() - first
    cluster.close()
    if cluster.refused:  # an empty mempool then says nothing about the transfers
        raise SystemExit(f"transfers were refused at admission: {cluster.refused}")
    return count / elapsed, elapsed, blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heights", type=int, default=200)
    parser.add_argument("--transfers", type=int, default=4000)
    parser.add_argument("--lmdb", action="store_true", help="LMDB stores in a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lmdb_dir = Path(tmp) if args.lmdb else None
        store = "LMDB" if args.lmdb else "memory"
        hps = bench_heights(args.heights, None if lmdb_dir is None else lmdb_dir / "h")
        print(f"4 replicas, Ed25519, {store} stores: {hps:,.1f} empty heights/s")
        tps, elapsed, blocks = bench_transfers(
            args.transfers, None if lmdb_dir is None else lmdb_dir / "t"
        )
        print(
            f"4 replicas, Ed25519, {store} stores: {tps:,.0f} transfers/s "
            f"({args.transfers} transfers in {elapsed:.2f} s, {blocks} blocks)"
        )


if __name__ == "__main__":
    main()
