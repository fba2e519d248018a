"""The validator's durable store: one LMDB environment, one synced write transaction per height.

A committed height (block, commit certificate, state writes, transaction results and the new
height pointer) goes into LMDB in a single write transaction opened with `sync=True`, so after
a crash at any instant reopening finds height h complete or absent, never a mix. Any LMDB
failure (a full map, an I/O error) aborts the transaction and surfaces as `StoreError`; the
store stays at the previous height and keeps working. The map grows on its own before it fills
(`ledger/store_growth.py`), so only a disk without room stops writes (`StoreFullError`). The
layout is in `ledger/store_keys.py`.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import lmdb

from consensus.interfaces import HeightRecord, StoreError
from ledger.store_growth import GROW_AT, GrowthPolicy, ReadGate, StoreFullError, needs_growth
from ledger.store_keys import (
    DB_APP_HASHES,
    DB_BLOCKS,
    DB_COMMITS,
    DB_META,
    DB_NAMES,
    DB_RESULTS,
    DB_STATE,
    DB_TX_INDEX,
    FORMAT_VERSION,
    MAX_KEY_SIZE,
    META_FORMAT_VERSION,
    META_LAST_HEIGHT,
    META_SIGN_STATE,
    StoreClosedError,
    StoreFormatError,
    already_indexed,
    check_bytes,
    check_next_height,
    check_record,
    decode_height,
    encode_version,
    height_key,
    readable_height,
)

log = logging.getLogger(__name__)

LOCK_FILE = "depositnet.lock"
"""An advisory lock (flock) that keeps a second process or object from opening the store."""


class StoreInUseError(StoreError):
    """Another open handle (usually another process: a validator already running) holds the
    store's lock; kept apart so a node can tell its operator exactly that."""


class LmdbStore:
    """A `Store` in an LMDB environment (a directory). Open with `LmdbStore.open(path)`."""

    def __init__(
        self,
        env: Any,
        dbs: dict[bytes, Any],
        lock_fd: int,
        path: str,
        growth: GrowthPolicy | None = None,
    ) -> None:
        """Use `LmdbStore.open`; this only wires an already opened environment. Without a
        `growth` policy the map never grows (the simulator's environment has no map)."""
        self._env: Any = env
        self._growth = growth or GrowthPolicy(growth_step=0)
        self._gate = ReadGate()
        self._warned = False  # disk nearly full: said once
        self._warned_stuck = False  # the map cannot grow: said once
        self._dbs = dbs
        self._lock_fd = lock_fd
        self._path = path
        self._closed = False
        self._last_height = self._read_last_height()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        map_size: int = 1 << 30,
        create: bool = True,
        growth: GrowthPolicy | None = None,
    ) -> LmdbStore:
        """Open (or with `create`, create) the store in directory `path`.

        `map_size` is the initial map size (an existing store keeps at least its data's size);
        `growth` says how the map grows when it fills (default: 1 GiB steps while the disk
        keeps 1 GiB free; a `growth_step` of 0 never grows). Raises StoreError if the
        directory is missing (and not `create`), already open, not a depositnet store, or of
        an unknown format version.
        """
        where = os.fspath(path)
        if type(map_size) is not int or map_size <= 0:
            raise StoreError(f"map_size must be a positive int, got {map_size!r}")
        policy = growth or GrowthPolicy()
        for name in ("growth_step", "min_free_disk"):
            value = getattr(policy, name)
            if type(value) is not int or value < 0:
                raise StoreError(f"{name} must be a non-negative int, got {value!r}")
        if not create and not os.path.isdir(where):
            raise StoreError(f"no store at {where}: the directory does not exist")
        if create:
            os.makedirs(where, exist_ok=True)
        lock_fd = _acquire_lock(where)
        try:
            env = lmdb.open(
                where,
                map_size=map_size,
                subdir=True,
                max_dbs=len(DB_NAMES),
                sync=True,
                metasync=True,
                lock=True,
                create=create,
            )
        except lmdb.Error as exc:
            os.close(lock_fd)
            raise StoreError(f"cannot open the store at {where}: {exc}") from exc
        try:
            env.reader_check()  # free reader slots of processes that died holding them
            dbs = _open_dbs(env, where, create)
            return cls(env, dbs, lock_fd, where, policy)
        except BaseException:
            env.close()
            os.close(lock_fd)
            raise

    # -- writes ------------------------------------------------------------------------------

    def save_sign_state(self, data: bytes) -> None:
        """Save the replica's sign state in one synced transaction; durable on return."""
        self._check_open()
        raw = check_bytes(data, "sign state")

        def write(txn: Any) -> None:
            txn.put(META_SIGN_STATE, raw, db=self._dbs[DB_META])

        self._write(write, "the sign state")

    def save_height(self, record: HeightRecord) -> None:
        """Write all of `record` and the new height in one synced transaction, or nothing."""
        self._check_open()
        checked = check_record(record)
        check_next_height(self._last_height, checked.height)
        key = height_key(checked.height)
        state = self._dbs[DB_STATE]
        index = self._dbs[DB_TX_INDEX]

        def write(txn: Any) -> None:
            txn.put(key, checked.block, db=self._dbs[DB_BLOCKS])
            txn.put(key, checked.commit, db=self._dbs[DB_COMMITS])
            txn.put(key, checked.app_hash, db=self._dbs[DB_APP_HASHES])
            txn.put(key, checked.results, db=self._dbs[DB_RESULTS])
            puts = []
            for state_key, value in checked.writes:
                if value is None:
                    txn.delete(state_key, db=state)
                else:
                    puts.append((state_key, value))
            with txn.cursor(db=state) as cursor:  # one C loop per table, in key order
                cursor.putmulti(puts)
            with txn.cursor(db=index) as cursor:
                _, added = cursor.putmulti(checked.tx_index, overwrite=False)
            if added != len(checked.tx_index):  # raising aborts the whole transaction
                raise _AlreadyIndexed(self._first_indexed(txn, checked.tx_index))
            txn.put(META_LAST_HEIGHT, key, db=self._dbs[DB_META])

        try:
            self._write(write, f"height {checked.height}")
        except _AlreadyIndexed as exc:
            raise already_indexed(exc.tx_id, checked.height) from None
        self._last_height = checked.height

    def _write(self, write: Callable[[Any], None], what: str) -> None:
        """Run `write` in one synced transaction: grow the map first when it is nearly full,
        and when the map fills anyway, grow it and run the whole transaction once more (the
        first attempt was aborted: nothing of it is on disk)."""
        if self._growth.growth_step:
            used, map_size = self.usage()
            if needs_growth(used, map_size):
                self._grow(used, map_size, what, required=False)
        try:
            self._run_write(write)
            return
        except lmdb.MapFullError as exc:
            if not self._growth.growth_step:
                raise _storage_error(exc, what, self._path, self._last_height) from exc
            used, map_size = self.usage()
            if not self._grow(used, map_size, what, required=True):
                raise _storage_error(exc, what, self._path, self._last_height) from exc
        except lmdb.Error as exc:
            raise _storage_error(exc, what, self._path, self._last_height) from exc
        try:
            self._run_write(write)
        except lmdb.Error as exc:
            raise _storage_error(exc, what, self._path, self._last_height) from exc

    def _run_write(self, write: Callable[[Any], None]) -> None:
        with self._env.begin(write=True) as txn:
            write(txn)

    def _grow(self, used: int, map_size: int, what: str, *, required: bool) -> bool:
        """Grow the map by one step if the disk keeps `min_free_disk` after; True if grown.

        With `required` (the map is full), a disk without room is a `StoreFullError`; else
        the refusal is logged and the write goes on in the room left."""
        step, keep = self._growth.growth_step, self._growth.min_free_disk
        if step == 0:
            return False
        new_size = map_size + step
        try:
            headroom = self._growth.headroom(self._path, used, new_size)
        except OSError as exc:
            raise StoreError(f"cannot read the free disk space at {self._path}: {exc}") from exc
        if headroom < keep:
            why = (
                f"growing its map from {map_size} to {new_size} bytes would leave "
                f"{max(headroom, 0)} bytes free on its disk, under [store].min_free_disk = {keep}"
            )
            if required:
                raise StoreFullError(
                    f"store at {self._path} is full: {why}; the store remains at height "
                    f"{self._last_height}. Free disk space (or move the data directory) and "
                    "restart."
                )
            if not self._warned_stuck:
                log.warning(
                    "store at %s: map over %d%% used and it cannot grow: %s; writing on in the "
                    "room left, the node stops when the map is full",
                    self._path,
                    round(GROW_AT * 100),
                    why,
                )
                self._warned_stuck = True
            return False
        if headroom < 2 * keep and not self._warned:
            log.warning(
                "store at %s: disk nearly full; after growing the map to %d bytes the disk "
                "keeps %d bytes free, under twice [store].min_free_disk = %d",
                self._path,
                new_size,
                headroom,
                keep,
            )
            self._warned = True
        with self._gate.resizing() as drained:
            if not drained:
                log.warning("store at %s: reads still open; map growth postponed", self._path)
                return False
            try:
                self._env.set_mapsize(new_size)
            except lmdb.Error as exc:
                raise StoreError(
                    f"cannot grow the map of the store at {self._path}: {exc}"
                ) from exc
        log.info(
            "store at %s: map grown from %d to %d bytes (%s)", self._path, map_size, new_size, what
        )
        return True

    def _first_indexed(self, txn: Any, entries: tuple[tuple[bytes, bytes], ...]) -> bytes:
        """The first of `entries` whose tx_id was indexed before this transaction."""
        db = self._dbs[DB_TX_INDEX]
        for tx_id, value in entries:
            if txn.get(tx_id, db=db) != value:
                return tx_id
        return entries[0][0]  # the same record twice in one height

    # -- reads -------------------------------------------------------------------------------

    def load_sign_state(self) -> bytes | None:
        return self._get(DB_META, META_SIGN_STATE)

    def last_height(self) -> int:
        self._check_open()
        return self._last_height

    def load_block(self, height: int) -> bytes | None:
        return self._get_height(DB_BLOCKS, height)

    def load_commit(self, height: int) -> bytes | None:
        return self._get_height(DB_COMMITS, height)

    def load_app_hash(self, height: int) -> bytes | None:
        return self._get_height(DB_APP_HASHES, height)

    def load_results(self, height: int) -> bytes | None:
        return self._get_height(DB_RESULTS, height)

    def load_tx_index(self, tx_id: bytes) -> bytes | None:
        return self._get_key(DB_TX_INDEX, check_bytes(tx_id, "tx_id"))

    def get_state(self, key: bytes) -> bytes | None:
        return self._get_key(DB_STATE, check_bytes(key, "state key"))

    def iter_state(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Entries under `prefix` in key order, from one read transaction (a snapshot taken
        at the first `next()`); the transaction ends when the iterator is exhausted or closed."""
        self._check_open()
        raw = check_bytes(prefix, "prefix")
        if len(raw) > MAX_KEY_SIZE:
            return iter(())
        return self._iter_state(raw)

    def _iter_state(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        with (
            self._gate.reading(),
            self._env.begin(db=self._dbs[DB_STATE]) as txn,
            txn.cursor() as cursor,
        ):
            found = cursor.set_range(prefix) if prefix else cursor.first()
            while found:
                key = cursor.key()
                if not key.startswith(prefix):
                    break
                yield key, cursor.value()
                found = cursor.next()

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the environment and release the lock. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._env.close()
        os.close(self._lock_fd)

    def __enter__(self) -> LmdbStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        return self._path

    def usage(self) -> tuple[int, int]:
        """(bytes in use, map size): operators alert before a full map stops commits."""
        self._check_open()
        with self._gate.reading():
            info, stat = self._env.info(), self._env.stat()
        return (int(info["last_pgno"]) + 1) * int(stat["psize"]), int(info["map_size"])

    # -- helpers -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"the store at {self._path} is closed")

    def _get(self, db_name: bytes, key: bytes) -> bytes | None:
        self._check_open()
        with self._gate.reading(), self._env.begin(db=self._dbs[db_name]) as txn:
            value: bytes | None = txn.get(key)
            return value

    def _get_key(self, db_name: bytes, key: bytes) -> bytes | None:
        if not 1 <= len(key) <= MAX_KEY_SIZE:
            self._check_open()
            return None
        return self._get(db_name, key)

    def _get_height(self, db_name: bytes, height: int) -> bytes | None:
        if not readable_height(height):
            self._check_open()
            return None
        return self._get(db_name, height_key(height))

    def _read_last_height(self) -> int:
        """Read the height pointer and check it against the blocks it points at."""
        with self._env.begin() as txn:
            raw = txn.get(META_LAST_HEIGHT, db=self._dbs[DB_META])
            last = 0 if raw is None else decode_height(raw)
            with txn.cursor(db=self._dbs[DB_BLOCKS]) as cursor:
                top = decode_height(cursor.key()) if cursor.last() else 0
        if top != last:
            raise StoreFormatError(
                f"store at {self._path} is inconsistent: last height {last} but highest block {top}"
            )
        return last


class _AlreadyIndexed(Exception):
    def __init__(self, tx_id: bytes) -> None:
        self.tx_id = tx_id


def _acquire_lock(where: str) -> int:
    fd = os.open(os.path.join(where, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise StoreInUseError(
            f"the store at {where} is already open (by this or another process)"
        ) from exc
    return fd


def _open_dbs(env: Any, where: str, create: bool) -> dict[bytes, Any]:
    """Open the named databases and check (or, for a new store, write) the format version."""
    try:
        with env.begin(write=True) as txn:
            dbs = {name: env.open_db(name, txn=txn, create=create) for name in DB_NAMES}
            meta = dbs[DB_META]
            version = txn.get(META_FORMAT_VERSION, db=meta)
            if version is None:
                has_blocks = txn.stat(dbs[DB_BLOCKS])["entries"] > 0
                if has_blocks or txn.get(META_LAST_HEIGHT, db=meta) is not None:
                    raise StoreFormatError(f"store at {where} has data but no format version")
                txn.put(META_FORMAT_VERSION, encode_version(FORMAT_VERSION), db=meta)
            elif version != encode_version(FORMAT_VERSION):
                shown = int.from_bytes(version, "big") if len(version) == 4 else version.hex()
                raise StoreFormatError(
                    f"store at {where} has format version {shown}; "
                    f"this depositnet reads only version {FORMAT_VERSION}"
                )
    except lmdb.NotFoundError as exc:
        raise StoreFormatError(f"store at {where} lacks its databases: {exc}") from exc
    except lmdb.Error as exc:
        raise StoreError(f"cannot open the databases of the store at {where}: {exc}") from exc
    return dbs


def _storage_error(exc: Exception, what: str, where: str, height: int) -> StoreError:
    """A clear StoreError for an LMDB failure while saving `what`."""
    if isinstance(exc, lmdb.MapFullError):
        return StoreError(
            f"store at {where} is full (LMDB map_size reached) while saving {what}; nothing was "
            f"written and the store remains at height {height}. Reopen it with a larger map_size "
            "([store].initial_map_size) or a larger [store].growth_step."
        )
    return StoreError(
        f"storage error at {where} while saving {what} ({exc}); nothing was written and the "
        f"store remains at height {height}"
    )
