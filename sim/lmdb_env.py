"""An LMDB environment on a simulated disk, with the py-lmdb calls `LmdbStore` makes.

Why: the simulator should crash the store the node really runs, not a stand-in. The production
`ledger.store_lmdb.LmdbStore` takes an opened environment and named databases; this module
gives it one whose write transactions land on a `sim.disk.SimDisk` as whole transactions
(synced at commit when the environment was opened with `sync=True`, as the node's is), so a
simulated crash or power cut hits the production store code: its transactions, its recovery
check on open, and any bug planted in it.

Only the subset of py-lmdb the store uses is here, with py-lmdb's semantics (defaults, return
values, errors as `lmdb` exceptions); anything else raises AttributeError, loudly. The test
`tests/sim/test_lmdb_env.py` runs random operation sequences against this and a real LMDB
environment side by side. Single-threaded: one write transaction at a time; read transactions
see the latest committed data (no MVCC snapshot: nothing interleaves in the simulator).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

import attrs
import lmdb

from sim.disk import Op, SimDisk

MAX_KEY_BYTES = 511


@attrs.frozen
class SimDatabase:
    """A named database handle (py-lmdb's `_Database`)."""

    name: bytes


class SimEnvironment:
    """py-lmdb's `Environment` over a `SimDisk` (see module doc)."""

    def __init__(self, disk: SimDisk, *, sync: bool = True) -> None:
        self.disk = disk
        self.sync_on_commit = sync
        self._default = SimDatabase(b"")
        disk.create_table(b"")
        self._writer: SimTransaction | None = None
        self._closed = False

    def open_db(
        self, key: bytes, txn: SimTransaction | None = None, create: bool = True, **_: Any
    ) -> SimDatabase:
        self._check_open()
        if key not in self.disk.tables:
            if not create:
                raise lmdb.NotFoundError(f"mdb_dbi_open: MDB_NOTFOUND: {key!r}")
            self.disk.create_table(key)
        return SimDatabase(key)

    def begin(self, db: SimDatabase | None = None, write: bool = False, **_: Any) -> SimTransaction:
        self._check_open()
        txn = SimTransaction(self, db or self._default, write)
        if write:
            if self._writer is not None:
                raise lmdb.Error("a write transaction is already open (one writer at a time)")
            self._writer = txn
        return txn

    def sync(self, force: bool = False) -> None:
        self._check_open()
        self.disk.sync()

    def reader_check(self) -> int:
        return 0

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise lmdb.Error("Attempt to operate on closed/deleted/dropped object.")

    def _finished(self, txn: SimTransaction, ops: list[Op] | None) -> None:
        if txn.write:
            self._writer = None
            if ops is not None:
                self.disk.commit(ops, sync=self.sync_on_commit)


class SimTransaction:
    """py-lmdb's `Transaction`: writes are buffered and reach the disk at commit, or never."""

    def __init__(self, env: SimEnvironment, db: SimDatabase, write: bool) -> None:
        self._env = env
        self._db = db
        self.write = write
        self._changes: dict[bytes, dict[bytes, bytes | None]] = {}
        self._ops: list[Op] = []
        self._done = False

    def __enter__(self) -> SimTransaction:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self._done:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def commit(self) -> None:
        self._check()
        self._done = True
        self._env._finished(self, self._ops if self.write else None)

    def abort(self) -> None:
        if not self._done:
            self._done = True
            self._env._finished(self, None)

    # ------------------------------------------------------------ reads

    def get(self, key: bytes, default: bytes | None = None, db: SimDatabase | None = None) -> Any:
        self._check()
        value = self._lookup(self._table(db), bytes(key))
        return default if value is None else value

    def stat(self, db: SimDatabase) -> dict[str, int]:
        self._check()
        return {"entries": len(self._keys(db.name))}

    def cursor(self, db: SimDatabase | None = None) -> SimCursor:
        self._check()
        return SimCursor(self, self._table(db))

    # ------------------------------------------------------------ writes

    def put(
        self,
        key: bytes,
        value: bytes,
        dupdata: bool = True,
        overwrite: bool = True,
        append: bool = False,
        db: SimDatabase | None = None,
    ) -> bool:
        return self._put(self._table(db), key, value, overwrite)

    def replace(self, key: bytes, value: bytes, db: SimDatabase | None = None) -> Any:
        table = self._table(db)
        old = self._lookup(table, bytes(key))
        self._put(table, key, value, True)
        return old

    def delete(self, key: bytes, value: bytes = b"", db: SimDatabase | None = None) -> bool:
        self._check_write()
        table = self._table(db)
        raw = bytes(key)
        if self._lookup(table, raw) is None:
            return False
        self._changes.setdefault(table, {})[raw] = None
        self._ops.append((table, raw, None))
        return True

    def pop(self, key: bytes, db: SimDatabase | None = None) -> Any:
        table = self._table(db)
        old = self._lookup(table, bytes(key))
        if old is not None:
            self.delete(key, db=db)
        return old

    # ------------------------------------------------------------ helpers

    def _put(self, table: bytes, key: bytes, value: bytes, overwrite: bool) -> bool:
        self._check_write()
        raw = bytes(key)
        if not 1 <= len(raw) <= MAX_KEY_BYTES:
            raise lmdb.BadValsizeError("mdb_put: MDB_BAD_VALSIZE: Unsupported size of key/DB")
        if not overwrite and self._lookup(table, raw) is not None:
            return False
        data = bytes(value)
        self._changes.setdefault(table, {})[raw] = data
        self._ops.append((table, raw, data))
        return True

    def _table(self, db: SimDatabase | None) -> bytes:
        return (db or self._db).name

    def _lookup(self, table: bytes, key: bytes) -> bytes | None:
        changes = self._changes.get(table)
        if changes is not None and key in changes:
            return changes[key]
        return self._env.disk.tables[table].get(key)

    def _keys(self, table: bytes) -> list[bytes]:
        """The table's keys in LMDB's order (bytewise), with this transaction's changes."""
        keys = set(self._env.disk.tables[table])
        for key, value in self._changes.get(table, {}).items():
            if value is None:
                keys.discard(key)
            else:
                keys.add(key)
        return sorted(keys)

    def _check(self) -> None:
        if self._done:
            raise lmdb.Error("Attempt to operate on closed/deleted/dropped object.")
        self._env._check_open()

    def _check_write(self) -> None:
        self._check()
        if not self.write:
            raise lmdb.ReadonlyError("mdb_put: Permission denied")


class SimCursor:
    """py-lmdb's `Cursor` over one table (keys in byte order, fixed when first positioned)."""

    def __init__(self, txn: SimTransaction, table: bytes) -> None:
        self._txn = txn
        self._table = table
        self._order: list[bytes] | None = None
        self._at = -1  # index into _order, -1 when unpositioned

    def __enter__(self) -> SimCursor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._at = -1

    def _keys(self) -> list[bytes]:
        if self._order is None:
            self._order = self._txn._keys(self._table)
        return self._order

    def _go(self, index: int) -> bool:
        keys = self._keys()
        self._at = index if 0 <= index < len(keys) else -1
        return self._at >= 0

    def first(self) -> bool:
        return self._go(0)

    def last(self) -> bool:
        return self._go(len(self._keys()) - 1)

    def next(self) -> bool:
        return self._go(self._at + 1) if self._at >= 0 else self.first()

    def prev(self) -> bool:
        return self._go(self._at - 1) if self._at >= 0 else self.last()

    def set_range(self, key: bytes) -> bool:
        return self._go(bisect.bisect_left(self._keys(), bytes(key)))

    def set_key(self, key: bytes) -> bool:
        raw = bytes(key)
        index = bisect.bisect_left(self._keys(), raw)
        found = index < len(self._keys()) and self._keys()[index] == raw
        return self._go(index if found else -1)

    def key(self) -> bytes:
        return self._keys()[self._at] if self._at >= 0 else b""

    def value(self) -> bytes:
        if self._at < 0:
            return b""
        value = self._txn._lookup(self._table, self._keys()[self._at])
        return b"" if value is None else value

    def item(self) -> tuple[bytes, bytes]:
        return self.key(), self.value()

    def get(self, key: bytes, default: bytes | None = None) -> Any:
        return self.value() if self.set_key(key) else default

    def put(self, key: bytes, value: bytes, dupdata: bool = True, overwrite: bool = True,
            append: bool = False) -> bool:  # fmt: skip
        self._order = None
        return self._txn._put(self._table, key, value, overwrite)

    def putmulti(
        self,
        items: Iterable[tuple[bytes, bytes]],
        dupdata: bool = True,
        overwrite: bool = True,
        append: bool = False,
    ) -> tuple[int, int]:
        """Put every (key, value); returns (consumed, added) as py-lmdb does."""
        consumed = added = 0
        for key, value in items:
            consumed += 1
            added += self.put(key, value, overwrite=overwrite)
        return consumed, added
