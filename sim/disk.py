"""A simulated disk under one validator's LMDB environment: written is not durable.

Why: a simulated crash that loses nothing cannot catch a store or a driver that acts on a write
before it is durable (FoundationDB's `AsyncFileNonDurable`, TigerBeetle's storage faults). This
disk holds named tables of bytes, changed only by whole transactions (what an LMDB write
transaction is), and tells apart three kinds of committed transaction:

- durable: its sync returned (LMDB syncs at commit when the environment has `sync=True`);
- in flight: part of the write call whose sync has not returned yet (the node's executor waits
  for it in a worker thread while the replica goes on);
- unsynced: committed without a sync (`sync=False`); it sits in the OS page cache until a later
  sync flushes the file.

What a crash keeps, in model (LMDB's guarantee: a commit is all or nothing, and a synced commit
returns only once durable, so the next one starts after it):
- every durable transaction;
- of the call in flight, a prefix of its transactions (the crash lands between two commits, or
  before/after the only one), each whole;
- a process crash keeps every unsynced transaction (the kernel still writes its page cache);
  a power cut keeps a prefix of them (whatever writeback had reached the platter).
So what survives is always a prefix of the committed transactions, each whole, including every
durable one. A lying disk (`lying=True`, beyond the model: fsync returns before anything is
durable) keeps only a random prefix at a power cut and may tear the first transaction it loses,
keeping some of its writes and not others.

The tables the process sees (`tables`) hold every committed transaction; each not yet durable
one keeps the old values it replaced (an undo record), so a crash rolls back the lost suffix.
`calls` counts the transactions at the end of every store write call, so a recovery check can
tell a crash between two whole calls from one inside a call (a store that split one logical
write into two transactions). Deterministic: every choice comes from the `random.Random` passed.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import attrs

Op = tuple[bytes, bytes, bytes | None]
"""One write of a transaction: (table, key, new value or None to delete)."""


@attrs.define
class _Pending:
    """A committed transaction that is not durable yet, with what it replaced."""

    undo: list[tuple[bytes, bytes, bytes | None]]  # (table, key, old value or None), in op order
    synced: bool  # committed with a sync requested


@attrs.frozen
class CrashReport:
    """What a crash did to the disk (for the trace and the recovery checks)."""

    power: bool
    kept: int  # committed transactions that survived
    lost: int  # committed transactions rolled back
    torn: bool  # a transaction survived in part (beyond the model only)
    whole_calls: bool  # `kept` is the end of a store write call (no call survived in part)

    def describe(self) -> str:
        what = "power cut" if self.power else "process crash"
        out = f"{what}: kept {self.kept} transactions, lost {self.lost}"
        if self.torn:
            out += ", tore one"
        if not self.whole_calls:
            out += ", inside a write call"
        return out


class SimDisk:
    """Tables written by whole transactions, with durability tracked (see module doc)."""

    def __init__(self, *, lying: bool = False) -> None:
        self.lying = lying
        self.tables: dict[bytes, dict[bytes, bytes]] = {}
        self.committed = 0  # transactions committed since the disk was formatted (survivors)
        self.durable = 0  # of which durable: the first `durable` ones
        self._pending: list[_Pending] = []  # transactions durable+1 .. committed
        self._call_start: int | None = None  # `committed` when the write call in flight began
        self._call_synced = False
        self.calls: set[int] = {0}  # `committed` at the end of every write call
        self.crashes: list[CrashReport] = []

    # ------------------------------------------------------------ writes

    def create_table(self, name: bytes) -> None:
        """Tables exist from the store's creation (formatting is not simulated)."""
        self.tables.setdefault(name, {})

    def commit(self, ops: Iterable[Op], *, sync: bool) -> None:
        """Apply one transaction; with `sync`, it is durable once its call's sync returns."""
        undo: list[tuple[bytes, bytes, bytes | None]] = []
        for table, key, value in ops:
            rows = self.tables[table]
            undo.append((table, key, rows.get(key)))
            if value is None:
                rows.pop(key, None)
            else:
                rows[key] = value
        if not undo:
            return  # LMDB writes nothing for an empty transaction
        self._pending.append(_Pending(undo, sync))
        self.committed += 1
        if self._call_start is not None:
            self._call_synced = self._call_synced or sync
            return
        self.calls.add(self.committed)  # a write outside the driver's calls is a call itself
        if sync and not self.lying:
            self._make_durable(self.committed)  # its caller waited for the sync inline

    def begin_call(self) -> None:
        """A store write call starts (the driver's `save_*`); its sync is in flight until
        `end_call` returns True or `complete_call` runs."""
        assert self._call_start is None, "one write call at a time (LMDB has one writer)"
        self._call_start = self.committed
        self._call_synced = False

    def end_call(self) -> bool:
        """The call returned to the store; True if it asked for a sync (the driver must wait
        for `complete_call`), False if nothing it wrote was synced (done at once)."""
        assert self._call_start is not None
        self.calls.add(self.committed)
        if self._call_synced:
            return True
        self._call_start = None
        return False

    def complete_call(self) -> None:
        """The sync of the call in flight returned: everything committed so far is durable
        (an fsync flushes the whole file), unless the disk lies."""
        assert self._call_start is not None
        self._call_start = None
        if not self.lying:
            self._make_durable(self.committed)

    @property
    def in_flight(self) -> bool:
        return self._call_start is not None

    def sync(self) -> None:
        """An explicit full sync (`env.sync(True)`) that returned."""
        if not self.lying and self._call_start is None:
            self._make_durable(self.committed)

    def writeback(self, rng: random.Random) -> None:
        """Let the OS write back some unsynced transactions (a lying disk's only durability)."""
        if self._pending and self._call_start is None:
            self._make_durable(self.durable + rng.randint(0, len(self._pending)))

    def _make_durable(self, upto: int) -> None:
        count = upto - self.durable
        if count > 0:
            del self._pending[:count]
            self.durable = upto
            if len(self.calls) > 64:  # a crash keeps at least `durable`: older ends are moot
                self.calls = {c for c in self.calls if c >= upto}

    # ------------------------------------------------------------ crashes

    def crash(self, rng: random.Random, *, power: bool) -> CrashReport:
        """The process dies (and with `power`, the machine): keep what the model allows."""
        committed = self.committed
        keep = committed
        if self._call_start is not None:
            # The crash lands inside the call in flight: a prefix of its transactions made it.
            keep = rng.randint(self._call_start, committed)
            if keep > self._call_start and not self.lying:
                self._make_durable(keep)  # a later commit began only after the earlier synced
        if power and keep > self.durable:
            keep = rng.randint(self.durable, keep)  # unsynced writes: what writeback reached
        torn = False
        if power and self.lying and keep < committed and rng.random() < 0.5:
            torn = self._tear(keep, rng)
        self._roll_back(keep)  # a torn transaction's undo holds only the writes it lost
        survivors = keep + 1 if torn else keep
        whole = survivors in self.calls and not torn
        report = CrashReport(power, survivors, committed - survivors, torn, whole)
        self._pending.clear()
        self.durable = self.committed = survivors
        self.calls = {c for c in self.calls if c <= survivors} | {survivors}
        self._call_start = None
        self.crashes.append(report)
        return report

    def _tear(self, keep: int, rng: random.Random) -> bool:
        """Keep a random part of the first lost transaction (its other writes are undone)."""
        first = self._pending[keep - self.durable]
        kept = [rng.random() < 0.5 for _ in first.undo]
        if all(kept) or not any(kept):
            return False
        first.undo = [u for u, k in zip(first.undo, kept, strict=True) if not k]
        return True

    def _roll_back(self, keep: int) -> None:
        """Undo every transaction after the first `keep` (newest first)."""
        lost = self._pending[keep - self.durable :]
        for pending in reversed(lost):
            for table, key, old in reversed(pending.undo):
                if old is None:
                    self.tables[table].pop(key, None)
                else:
                    self.tables[table][key] = old

    def image(self) -> dict[bytes, dict[bytes, bytes]]:
        """A copy of every table as the process sees it (for tests and checks)."""
        return {name: dict(rows) for name, rows in self.tables.items()}
