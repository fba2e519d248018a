"""MemoryStore and LmdbStore side by side: every operation must give the same result or error.

Hypothesis drives both stores through random writes (valid, stale, skipped and malformed
heights; deletes; bad keys), sign-state saves, reads and reopenings, and compares what each
returns or raises. The simulator trusts MemoryStore to behave like the real store; this is why.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from consensus.interfaces import HeightRecord
from ledger.store_keys import MAX_KEY_SIZE
from ledger.store_lmdb import LmdbStore
from ledger.store_memory import MemoryStore

# Keys that share prefixes, sort around 0x00/0xff, plus invalid ones (empty, too long).
FAMILIAR = [b"a", b"ab", b"abc", b"b", b"\x00", b"\xff", b"\xff\x00", b"acct/1", b"acct/2"]
keys = st.one_of(
    st.sampled_from(FAMILIAR),
    st.sampled_from(FAMILIAR),
    st.binary(min_size=0, max_size=3),
    st.just(b"k" * MAX_KEY_SIZE),
    st.just(b"k" * (MAX_KEY_SIZE + 1)),
)
prefixes = st.one_of(st.sampled_from([b"", b"a", b"ab", b"\xff", b"acct/", b"acct/1x"]), keys)
values = st.binary(max_size=8)
heights = st.one_of(st.integers(-2, 12), st.just(True), st.just(2**64))


def _outcome(call: Callable[[], Any], path: str) -> tuple[str, Any]:
    """What `call` returned, or the type and message of what it raised (path elided)."""
    try:
        result = call()
        if hasattr(result, "__next__"):
            result = list(result)
        return "ok", result
    except Exception as exc:
        return type(exc).__name__, str(exc).replace(f" at {path}", "")


class StoresAgree(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="depositnet-diff-")
        self.lmdb = LmdbStore.open(self.dir)
        self.memory = MemoryStore()

    def both(self, op: Callable[[Any], Any]) -> Any:
        got_lmdb = _outcome(lambda: op(self.lmdb), self.dir)
        got_memory = _outcome(lambda: op(self.memory), self.dir)
        assert got_lmdb == got_memory
        return got_lmdb

    @rule(
        delta=st.sampled_from([1, 1, 1, 1, 0, 2, -1]),
        writes=st.dictionaries(keys, st.none() | values, max_size=6),
        results=st.dictionaries(keys, values, max_size=3),
        block=values,
    )
    def save_height(
        self,
        delta: int,
        writes: dict[bytes, bytes | None],
        results: dict[bytes, bytes],
        block: bytes,
    ) -> None:
        height = self.memory.last_height() + delta
        record = HeightRecord(height, block, b"c%d" % height, b"h%d" % height, writes, results)
        self.both(lambda s: s.save_height(record))

    @rule(height=heights)
    def save_odd_height(self, height: Any) -> None:
        self.both(lambda s: s.save_height(HeightRecord(height, b"", b"", b"", {}, {})))

    @rule(data=values)
    def save_sign_state(self, data: bytes) -> None:
        self.both(lambda s: s.save_sign_state(data))

    @rule(height=heights)
    def load_height(self, height: Any) -> None:
        self.both(lambda s: (s.load_block(height), s.load_commit(height), s.load_app_hash(height)))

    @rule(key=keys)
    def get(self, key: bytes) -> None:
        self.both(lambda s: (s.get_state(key), s.load_tx_index(key)))

    @rule(prefix=prefixes)
    def iterate(self, prefix: bytes) -> None:
        self.both(lambda s: s.iter_state(prefix))

    @rule()
    def bad_argument_types(self) -> None:
        self.both(lambda s: s.get_state("text"))
        self.both(lambda s: s.save_sign_state(None))
        self.both(lambda s: s.save_height("not a record"))

    @rule()
    def reopen(self) -> None:
        self.lmdb.close()
        self.memory.close()
        self.both(lambda s: s.last_height())
        self.lmdb = LmdbStore.open(self.dir)
        self.memory = MemoryStore.restore_from(self.memory.snapshot())

    @invariant()
    def same_height_state_and_sign_state(self) -> None:
        self.both(lambda s: (s.last_height(), s.load_sign_state(), list(s.iter_state())))

    def teardown(self) -> None:
        self.lmdb.close()
        self.memory.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# The loaded profile (dev or ci) still applies; only the size of the search changes.
StoresAgree.TestCase.settings = settings(max_examples=80, stateful_step_count=30)
test_stores_agree = StoresAgree.TestCase
