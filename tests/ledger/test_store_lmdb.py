"""What only the LMDB store has: files, a format version, a lock, and a map that can fill up."""

from __future__ import annotations

from pathlib import Path

import lmdb
import pytest

from consensus.interfaces import HeightRecord, StoreError
from ledger.store_growth import GrowthPolicy
from ledger.store_keys import (
    DB_BLOCKS,
    DB_META,
    DB_NAMES,
    META_FORMAT_VERSION,
    META_LAST_HEIGHT,
    StoreFormatError,
    height_key,
)
from ledger.store_lmdb import LmdbStore

SMALL_MAP = 256 * 1024
FIXED = GrowthPolicy(growth_step=0)  # a map that never grows: its size is a hard limit


def _record(height: int, writes: dict[bytes, bytes | None] | None = None) -> HeightRecord:
    return HeightRecord(
        height=height,
        block=b"block-%d" % height,
        commit=b"commit-%d" % height,
        app_hash=b"hash-%d" % height,
        writes=writes or {},
        tx_index={b"tx-%d" % height: b"ok"},
    )


def _poke_meta(path: Path, key: bytes, value: bytes) -> None:
    """Change the raw meta database behind the store's back."""
    env = lmdb.open(str(path), max_dbs=len(DB_NAMES))
    try:
        with env.begin(write=True) as txn:
            txn.put(key, value, db=env.open_db(DB_META, txn=txn))
    finally:
        env.close()


def test_map_full_leaves_store_at_previous_height(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with LmdbStore.open(path, map_size=SMALL_MAP, growth=FIXED) as store:
        store.save_sign_state(b"sign")
        store.save_height(_record(1, {b"a": b"1"}))
        huge = _record(2, {b"a": b"changed", b"big": b"x" * (2 * SMALL_MAP)})
        with pytest.raises(StoreError, match=r"full.*remains at height 1.*map_size"):
            store.save_height(huge)
        assert store.last_height() == 1
        assert store.get_state(b"a") == b"1"
        assert store.get_state(b"big") is None
        assert store.load_block(2) is None
        assert store.load_tx_index(b"tx-2") is None
        # Small writes still go through on the same open store.
        store.save_height(_record(2, {b"b": b"2"}))
        store.save_sign_state(b"sign2")
        assert store.last_height() == 2
    # The remedy the message names: reopen with a larger map, then the big record fits.
    with LmdbStore.open(path, map_size=8 * SMALL_MAP, growth=FIXED) as store:
        assert store.last_height() == 2
        assert store.load_sign_state() == b"sign2"
        store.save_height(_record(3, {b"big": b"x" * (2 * SMALL_MAP)}))
        assert store.get_state(b"big") == b"x" * (2 * SMALL_MAP)


def test_map_full_on_sign_state(tmp_path: Path) -> None:
    with LmdbStore.open(tmp_path / "db", map_size=SMALL_MAP, growth=FIXED) as store:
        store.save_sign_state(b"old")
        with pytest.raises(StoreError, match="full"):
            store.save_sign_state(b"s" * (2 * SMALL_MAP))
        assert store.load_sign_state() == b"old"


def test_unknown_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    LmdbStore.open(path).close()
    _poke_meta(path, META_FORMAT_VERSION, (99).to_bytes(4, "big"))
    with pytest.raises(StoreFormatError, match=r"format version 99.*only version 2"):
        LmdbStore.open(path)
    _poke_meta(path, META_FORMAT_VERSION, b"garbage!")
    with pytest.raises(StoreFormatError, match="format version"):
        LmdbStore.open(path)


def test_data_without_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    env = lmdb.open(str(path), max_dbs=len(DB_NAMES))
    with env.begin(write=True) as txn:
        txn.put(height_key(1), b"someone else's block", db=env.open_db(DB_BLOCKS, txn=txn))
    env.close()
    with pytest.raises(StoreFormatError, match="no format version"):
        LmdbStore.open(path)


def test_height_pointer_disagreeing_with_blocks_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with LmdbStore.open(path) as store:
        store.save_height(_record(1))
    _poke_meta(path, META_LAST_HEIGHT, height_key(3))
    with pytest.raises(StoreFormatError, match="last height 3 but highest block 1"):
        LmdbStore.open(path)
    _poke_meta(path, META_LAST_HEIGHT, b"\x01")
    with pytest.raises(StoreFormatError, match="8"):
        LmdbStore.open(path)


def test_second_open_is_refused_until_closed(tmp_path: Path) -> None:
    path = tmp_path / "db"
    store = LmdbStore.open(path)
    with pytest.raises(StoreError, match="already open"):
        LmdbStore.open(path)
    store.close()
    LmdbStore.open(path).close()


def test_missing_directory_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        LmdbStore.open(tmp_path / "missing", create=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError):
        LmdbStore.open(tmp_path / "empty", create=False)
    LmdbStore.open(tmp_path / "db").close()
    with LmdbStore.open(tmp_path / "db", create=False) as store:
        assert store.last_height() == 0


def test_not_an_lmdb_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    path.mkdir()
    (path / "data.mdb").write_bytes(b"this is not an LMDB file" * 1000)
    with pytest.raises(StoreError, match="cannot open"):
        LmdbStore.open(path)
    # The failed open released its lock: a good store can be created elsewhere and here after
    # the junk is gone.
    (path / "data.mdb").unlink()
    (path / "lock.mdb").unlink(missing_ok=True)
    LmdbStore.open(path).close()


@pytest.mark.parametrize("map_size", [0, -1, 1.5, True])
def test_bad_map_size(tmp_path: Path, map_size: object) -> None:
    with pytest.raises(StoreError, match="map_size"):
        LmdbStore.open(tmp_path / "db", map_size=map_size)  # type: ignore[arg-type]


def test_usage_grows_with_writes_within_the_map(tmp_path: Path) -> None:
    with LmdbStore.open(tmp_path / "s", map_size=SMALL_MAP) as store:
        used, map_size = store.usage()
        assert map_size == SMALL_MAP and 0 < used < SMALL_MAP
        store.save_height(_record(1, {b"k%d" % i: b"v" * 200 for i in range(100)}))
        grown, _ = store.usage()
        assert used + 100 * 200 <= grown < SMALL_MAP
