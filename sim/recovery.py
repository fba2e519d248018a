"""Recovery rules a restarted validator's store must meet, judged apart from the store.

The store and the replica check themselves when they open (the height pointer against the
blocks, the state against its app hash, the sign state against the height); a node whose store
fails those refuses to start with a clear error. These rules are the simulator's own, from what
it saw the validator do before the crash, so they also catch a store that opens happily in a
state it must never be in:

R0 whole writes: what survived is the store as of a whole number of its write calls (a call is
   one `save_sign_state` or `save_height`; a crash inside one that left part of it is a store
   that split one atomic write into several transactions, or a disk that tore one).
R1 consistent height: the store is at some height h, no lower than any height that was durable
   before the crash, holding block, commit and app hash for every height up to h and nothing
   above; block h is the block decided at h, its commit certifies it, its app hash is the one
   every correct validator reported.
R2 sign state: it decodes, it is at most one height above the store, and it covers every
   signature that left the process (its last signed (height, round, step) is at least that of
   any proposal or vote the validator sent): an older one could sign twice.
"""

from __future__ import annotations

from consensus.codec import DecodeError, decode_commit, decode_sign_state
from consensus.interfaces import Store
from consensus.messages import Proposal, Step, Vote
from consensus.replica.block import block_id, decode_block
from sim.disk import CrashReport

HRS = tuple[int, int, int]
MAX_BLOCK_BYTES = 8_000_000


def hrs_of(message: Proposal | Vote) -> HRS:
    step = Step.PROPOSE if isinstance(message, Proposal) else message.type.step
    return (message.height, message.round, int(step))


class RecoveryChecker:
    """Remembers what each instance did before it crashed; judges its store after."""

    def __init__(self) -> None:
        self.sent: dict[int, HRS] = {}  # instance -> highest own signature that left it

    def on_sent(self, instance: int, message: Proposal | Vote) -> None:
        hrs = hrs_of(message)
        if hrs > self.sent.get(instance, (0, -1, -1)):
            self.sent[instance] = hrs

    def check(
        self,
        instance: int,
        store: Store,
        crash: CrashReport | None,
        *,
        durable_height: int,
        decided: dict[int, bytes],
        app_hashes: dict[int, bytes],
    ) -> list[str]:
        """Every rule `store` breaks (empty when it may be resumed from)."""
        problems = []
        if crash is not None and (crash.torn or not crash.whole_calls):
            problems.append(f"R0: the store holds part of a write call ({crash.describe()})")
        problems += _height_problems(store, durable_height, decided, app_hashes)
        problems += self._sign_state_problems(instance, store)
        return problems

    def _sign_state_problems(self, instance: int, store: Store) -> list[str]:
        raw = store.load_sign_state()
        if raw is None:
            return ["R2: no sign state"]
        try:
            state = decode_sign_state(raw)
        except DecodeError as exc:
            return [f"R2: the sign state does not decode ({exc})"]
        out = []
        if state.height > store.last_height() + 1:
            out.append(f"R2: sign state at height {state.height}, store at {store.last_height()}")
        signed = state.last_signed
        covered = (signed.height, signed.round, int(signed.step)) if signed else (0, -1, -1)
        sent = self.sent.get(instance)
        if sent is not None and covered < sent:
            out.append(
                f"R2: the sign state covers signatures up to (h, r, step) {covered}, but one "
                f"for {sent} left the process before the crash"
            )
        return out


def _height_problems(
    store: Store, durable: int, decided: dict[int, bytes], app_hashes: dict[int, bytes]
) -> list[str]:
    last = store.last_height()
    out = []
    if last < durable:  # a lost durable height
        out.append(
            f"R1: height {durable} was durable before the crash; the store reopened at {last}"
        )
    for height in range(1, last + 1):
        loads = (store.load_block(height), store.load_commit(height), store.load_app_hash(height))
        if any(part is None for part in loads):
            out.append(f"R1: the store at height {last} lacks part of height {height}")
            return out
    if store.load_block(last + 1) is not None or store.load_commit(last + 1) is not None:
        out.append(f"R1: the store at height {last} holds data of height {last + 1}")
    if last == 0:
        return out
    raw_block, raw_commit = store.load_block(last), store.load_commit(last)
    assert raw_block is not None and raw_commit is not None
    try:
        bid = block_id(decode_block(raw_block, MAX_BLOCK_BYTES).header)
        commit = decode_commit(raw_commit)
    except DecodeError as exc:
        return [*out, f"R1: block or commit {last} does not decode ({exc})"]
    if commit.block_id != bid or commit.height != last:
        out.append(f"R1: the commit of height {last} certifies another block")
    if last in decided and decided[last] != bid:
        out.append(f"R1: block {last} in the store is not the block decided at {last}")
    if last in app_hashes and app_hashes[last] != store.load_app_hash(last):
        out.append(f"R1: the app hash of height {last} is not the one validators reported")
    return out
