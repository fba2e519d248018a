"""The production LMDB store on a simulated disk: what a simulated validator keeps.

`SimLmdbStore` is `ledger.store_lmdb.LmdbStore` itself (every read, write and the consistency
check on open are the production code), opened on a `sim.lmdb_env.SimEnvironment` instead of a
directory: only the parts that touch the file system (the directory, the lock file) are left
out. Opened with `sync=True` like the node's, so each write transaction is synced at commit.
A planted store bug patches `LmdbStore` and so reaches this store too.
"""

from __future__ import annotations

from ledger.store_lmdb import LmdbStore, _open_dbs
from sim.disk import SimDisk
from sim.lmdb_env import SimEnvironment


class SimLmdbStore(LmdbStore):
    """`LmdbStore` on a `SimDisk` (see module doc)."""

    @classmethod
    def open_on(cls, disk: SimDisk, where: str) -> SimLmdbStore:
        """Open the store on `disk` as `LmdbStore.open` would (a new disk gets its databases
        and format version). Raises the production errors (StoreFormatError ...) unchanged."""
        env = SimEnvironment(disk, sync=True)
        dbs = _open_dbs(env, where, True)
        return cls(env, dbs, -1, where)

    @property
    def disk(self) -> SimDisk:
        env = self._env
        assert isinstance(env, SimEnvironment)
        return env.disk

    def close(self) -> None:
        """Close the environment (there is no lock file to release)."""
        if not self._closed:
            self._closed = True
            self._env.close()
