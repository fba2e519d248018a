"""A small deterministic event loop that drives N replicas (the test driver, not the simulator).

A heap of (time_ms, seq, action) delivers payloads with a fixed latency and fires timers; each
replica's effects are executed strictly in order, as a real driver must: `PersistSignState` ->
`store.save_sign_state`, `CommitBlock` -> `store.save_height`, sends -> scheduled deliveries,
`SetTimer` -> scheduled timer. Every signed proposal and vote that leaves a validator is
recorded, so a test can check that no validator ever signed two different messages for one
(height, round, step), across crashes and restarts. A crash can be injected after any number
of executed effects of one node; the node is then rebuilt from its store with `Replica.open`.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consensus import codec
from consensus.crypto import ED25519, Ed25519Signer, SignatureScheme
from consensus.interfaces import Store
from consensus.messages import Proposal, Step
from consensus.replica import events as ev
from consensus.replica.block import decode_block
from consensus.replica.config import ReplicaConfig
from consensus.replica.replica import Replica
from consensus.replica.wire import ProposalMsg, VoteMsg, decode_wire
from consensus.signing import proposal_sign_bytes, vote_sign_bytes
from consensus.timeouts import TimeoutConfig
from ledger.app import LedgerApp
from ledger.genesis import Genesis, GenesisCurrency, GenesisParticipant, GenesisValidator
from ledger.mempool import Mempool
from ledger.signing import make_tx
from ledger.store_lmdb import LmdbStore
from ledger.store_memory import MemoryStore
from ledger.tx import Mint, Transfer

CHAIN = "replica-test"
FAST_TIMEOUTS = TimeoutConfig(
    propose_ms=200,
    propose_delta_ms=50,
    prevote_ms=100,
    prevote_delta_ms=50,
    precommit_ms=100,
    precommit_delta_ms=50,
)
FAST = ReplicaConfig(timeouts=FAST_TIMEOUTS, status_interval_ms=200, tx_flush_interval_ms=5)


def key(name: str) -> Ed25519Signer:
    return Ed25519Signer(hashlib.blake2b(name.encode(), digest_size=32).digest())


ISSUER = key("issuer")
USERS = [key(f"user-{i}") for i in range(8)]


def make_genesis(validators: list[Ed25519Signer]) -> Genesis:
    return Genesis(
        chain_id=CHAIN,
        validators=tuple(
            GenesisValidator(f"v{i}", v.public_key, 10) for i, v in enumerate(validators)
        ),
        currencies=(GenesisCurrency("USD", 2, ISSUER.public_key, 10**15),),
        governors=(key("governor").public_key,),
        compliance=(key("compliance").public_key,),
        participants=tuple(
            GenesisParticipant(u.public_key, f"u{i}", 10**6) for i, u in enumerate(USERS)
        ),
    )


class TxMaker:
    """Deterministic signed transactions (tx ids from a counter), valid for 60 s of the
    driver's virtual time unless told otherwise."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.counter = 0

    def _until(self, valid_until: int | None) -> int:
        if valid_until is not None:
            return valid_until
        return self.net.now + 60_000

    def _id(self) -> bytes:
        self.counter += 1
        return self.counter.to_bytes(16, "big")

    def mint(self, to: int, amount: int, valid_until: int | None = None) -> bytes:
        body = Mint(USERS[to].public_key, "USD", amount, f"dep-{self.counter}")
        until = self._until(valid_until)
        return make_tx(ISSUER, CHAIN, body, nonce=self._id(), valid_until_ms=until)

    def transfer(self, frm: int, to: int, amount: int, valid_until: int | None = None) -> bytes:
        body = Transfer(USERS[frm].public_key, USERS[to].public_key, "USD", amount)
        until = self._until(valid_until)
        return make_tx(USERS[frm], CHAIN, body, nonce=self._id(), valid_until_ms=until)


class DoubleSign(AssertionError):
    pass


class Node:
    def __init__(self, net: Net, index: int, signer: Ed25519Signer, store: Store) -> None:
        self.net = net
        self.index = index
        self.signer = signer
        self.key = signer.public_key
        self.store = store
        self.incarnation = 0
        self.alive = True
        self.effects_executed = 0
        self.crash_after: int | None = None  # crash once this many effects have run
        self.crash_on: Callable[[ev.ReplicaEffect], bool] | None = None  # ...or right after one
        self.commits: list[ev.CommitBlock] = []
        self.effects_log: list[Any] = []
        self.replica = self._open()

    def _open(self) -> Replica:
        net = self.net
        app = LedgerApp.from_store(net.genesis, self.store, net.scheme)
        self.app = app
        self.mempool = Mempool(app)
        return Replica.open(
            chain_id=CHAIN,
            validators=net.validators,
            signer=self.signer,
            scheme=net.scheme,
            app=app,
            mempool=self.mempool,
            store=self.store,
            config=net.config,
            genesis_time_ms=net.genesis_time_ms,
        )

    def restart(self) -> None:
        """Crash recovery: reopen the store's durable contents and rebuild the replica."""
        self.store = self.net.reopen_store(self)
        self.incarnation += 1
        self.alive = True
        self.replica = self._open()
        self.net.run_effects(self, self.replica.start(self.net.now))
        for other in self.net.nodes:
            if other is not self and other.alive and self.net.linked(self, other):
                self.net.call(self, ev.PeerConnected(other.key))
                self.net.call(other, ev.PeerConnected(self.key))


class Net:
    """N validators on a full mesh with fixed latency."""

    def __init__(
        self,
        n: int = 4,
        *,
        tmp_path: Path | None = None,
        config: ReplicaConfig = FAST,
        latency_ms: int = 5,
        scheme: SignatureScheme = ED25519,
        check_invariants: bool = True,
        genesis_time_ms: int = 0,
    ) -> None:
        self.signers = sorted((key(f"validator-{i}") for i in range(n)), key=lambda s: s.public_key)
        self.genesis = make_genesis(self.signers)
        self.validators = self.genesis.validator_set()
        self.config = config
        self.latency_ms = latency_ms
        self.scheme = scheme
        self.tmp_path = tmp_path
        self.check = check_invariants
        self.genesis_time_ms = genesis_time_ms
        self.now = 0
        self._seq = 0
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self.cut: set[frozenset[int]] = set()  # severed links (node index pairs)
        self.signed: dict[tuple[bytes, int, int, int], bytes] = {}
        self.misbehaviour: list[ev.PeerMisbehaved] = []
        self.tamper: Callable[[Node, Node, bytes], bytes] | None = None  # a Byzantine sender
        self.nodes: list[Node] = []
        for i, s in enumerate(self.signers):
            store = self.new_store(i)
            Replica.initialize_store(store)
            self.nodes.append(Node(self, i, s, store))

    # ------------------------------------------------------------------ stores

    def new_store(self, i: int) -> Store:
        if self.tmp_path is None:
            return MemoryStore()
        return LmdbStore.open(self.tmp_path / f"node{i}", map_size=1 << 28)

    def reopen_store(self, node: Node) -> Store:
        if isinstance(node.store, MemoryStore):
            snapshot = node.store.snapshot()
            node.store.close()
            return MemoryStore.restore_from(snapshot)
        node.store.close()
        assert self.tmp_path is not None
        return LmdbStore.open(self.tmp_path / f"node{node.index}", map_size=1 << 28, create=False)

    def close(self) -> None:
        for node in self.nodes:
            node.store.close()

    # ------------------------------------------------------------------ scheduling

    def at(self, time_ms: int, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time_ms, self._seq, action))

    def linked(self, a: Node, b: Node) -> bool:
        return frozenset((a.index, b.index)) not in self.cut

    def start(self) -> None:
        for node in self.nodes:
            self.run_effects(node, node.replica.start(self.now))
        for a in self.nodes:
            for b in self.nodes:
                if a is not b:
                    self.call(a, ev.PeerConnected(b.key))

    def call(self, node: Node, event: ev.ReplicaEvent) -> None:
        if not node.alive:
            return
        effects = node.replica.handle(event, self.now)
        if self.check:
            node.replica.check_invariants()
        self.run_effects(node, effects)

    def run_effects(self, node: Node, effects: list[ev.ReplicaEffect]) -> None:
        incarnation = node.incarnation
        for effect in effects:
            if node.crash_after is not None and node.effects_executed >= node.crash_after:
                node.crash_after = None
                self.crash(node)
                return
            node.effects_executed += 1
            self.execute(node, incarnation, effect)
            if node.crash_on is not None and node.crash_on(effect):
                node.crash_on = None
                self.crash(node)
                return

    def crash(self, node: Node) -> None:
        node.alive = False
        node.incarnation += 1  # pending timers and in-flight deliveries to it are void

    def execute(self, node: Node, incarnation: int, effect: ev.ReplicaEffect) -> None:
        node.effects_log.append(effect)
        if isinstance(effect, ev.PersistSignState):
            node.store.save_sign_state(effect.data)
        elif isinstance(effect, ev.CommitBlock):
            node.store.save_height(effect.record)
            node.commits.append(effect)
        elif isinstance(effect, ev.SendTo):
            target = self.by_key(effect.peer)
            self.send(node, target, effect.payload)
        elif isinstance(effect, ev.BroadcastPayload):
            for target in self.nodes:
                if target is not node:
                    self.send(node, target, effect.payload)
        elif isinstance(effect, ev.SetTimer):
            timer = ev.TimerFired(effect.timer)
            self.at(
                max(effect.deadline_ms, self.now),
                lambda: self._fire(node, incarnation, timer),
            )
        elif isinstance(effect, ev.PeerMisbehaved):
            self.misbehaviour.append(effect)

    def _fire(self, node: Node, incarnation: int, event: ev.ReplicaEvent) -> None:
        if node.alive and node.incarnation == incarnation:
            self.call(node, event)

    def send(self, src: Node, dst: Node, payload: bytes) -> None:
        self.record_signed(src, payload)
        if not self.linked(src, dst):
            return
        if self.tamper is not None:
            payload = self.tamper(src, dst, payload)
        incarnation = dst.incarnation
        event = ev.MessageReceived(src.key, payload)

        def deliver() -> None:
            if self.linked(src, dst):
                self._fire(dst, incarnation, event)

        self.at(self.now + self.latency_ms, deliver)

    def by_key(self, public_key: bytes) -> Node:
        return next(n for n in self.nodes if n.key == public_key)

    def record_signed(self, src: Node, payload: bytes) -> None:
        """Remember every message `src` signed; two different ones at one HRS is a failure."""
        msg = decode_wire(payload)
        if isinstance(msg, ProposalMsg) and msg.proposal.proposer == src.key:
            p: Proposal = msg.proposal
            hrs = (src.key, p.height, p.round, int(Step.PROPOSE))
            sign_bytes = proposal_sign_bytes(CHAIN, p)
        elif isinstance(msg, VoteMsg) and msg.vote.validator == src.key:
            v = msg.vote
            hrs = (src.key, v.height, v.round, int(v.type.step))
            sign_bytes = vote_sign_bytes(CHAIN, v)
        else:
            return
        first = self.signed.setdefault(hrs, sign_bytes)
        if first != sign_bytes:
            raise DoubleSign(f"validator {src.index} signed twice at {hrs[1:]}")

    # ------------------------------------------------------------------ running

    def step(self) -> bool:
        if not self._heap:
            return False
        time_ms, _, action = heapq.heappop(self._heap)
        self.now = max(self.now, time_ms)
        action()
        return True

    def run_until(self, done: Callable[[], bool], max_ms: int) -> None:
        deadline = self.now + max_ms
        while not done():
            if not self._heap or self._heap[0][0] > deadline:
                raise AssertionError(f"not done by t={deadline} ms (now {self.now})")
            self.step()

    def run_for(self, ms: int) -> None:
        deadline = self.now + ms
        while self._heap and self._heap[0][0] <= deadline:
            self.step()
        self.now = deadline

    def submit(self, node: Node, tx: bytes) -> ev.TxAdmitted:
        effects = node.replica.handle(ev.TxSubmitted(tx), self.now)
        admitted = effects[0]
        assert isinstance(admitted, ev.TxAdmitted)
        self.run_effects(node, effects)
        return admitted

    def disconnect(self, node: Node) -> None:
        for other in self.nodes:
            if other is not node:
                self.cut.add(frozenset((node.index, other.index)))
                self.call(node, ev.PeerDisconnected(other.key))
                self.call(other, ev.PeerDisconnected(node.key))

    def reconnect(self, node: Node) -> None:
        for other in self.nodes:
            if other is not node:
                self.cut.discard(frozenset((node.index, other.index)))
                self.call(node, ev.PeerConnected(other.key))
                self.call(other, ev.PeerConnected(node.key))

    # ------------------------------------------------------------------ checks

    def min_height(self) -> int:
        return min(n.store.last_height() for n in self.nodes if n.alive)

    def assert_agreement(self) -> None:
        """Every store holds identical blocks and app hashes at the heights they share."""
        top = min(n.store.last_height() for n in self.nodes)
        for h in range(1, top + 1):
            blocks = {n.store.load_block(h) for n in self.nodes}
            hashes = {n.store.load_app_hash(h) for n in self.nodes}
            assert len(blocks) == 1, f"blocks differ at height {h}"
            assert len(hashes) == 1, f"app hashes differ at height {h}"
            raw = blocks.pop()
            assert raw is not None
            block = decode_block(raw, 1 << 24)
            assert block.header.height == h
            commit = codec.decode_commit(self.nodes[0].store.load_commit(h) or b"")
            assert commit.height == h
