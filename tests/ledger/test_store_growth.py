"""The LMDB map grows on its own, and a disk without room stops the store at a whole height."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from consensus.interfaces import HeightRecord, StoreError
from ledger.store_growth import GrowthPolicy, ReadGate, StoreFullError
from ledger.store_lmdb import LmdbStore

MIB = 1 << 20
PLENTY = 1 << 50  # a simulated disk with room for anything


def _record(height: int, size: int = 2000, count: int = 20) -> HeightRecord:
    writes: dict[bytes, bytes | None] = {
        b"h%08d-%03d" % (height, i): bytes([height % 251]) * size for i in range(count)
    }
    return HeightRecord(
        height=height,
        block=b"block-%d" % height,
        commit=b"commit-%d" % height,
        app_hash=b"hash-%d" % height,
        writes=writes,
        tx_index={b"tx-%d" % height: b"ok"},
    )


def _whole(store: LmdbStore, height: int) -> bool:
    """Every part of `height` is readable (and so written in one piece)."""
    return (
        store.load_block(height) == b"block-%d" % height
        and store.load_commit(height) == b"commit-%d" % height
        and store.load_app_hash(height) == b"hash-%d" % height
        and store.load_tx_index(b"tx-%d" % height) == b"ok"
        and store.get_state(b"h%08d-019" % height) == bytes([height % 251]) * 2000
    )


def test_a_tiny_map_grows_under_load_and_every_height_stays_readable(tmp_path: Path) -> None:
    policy = GrowthPolicy(growth_step=MIB, min_free_disk=MIB, free_disk=lambda _: PLENTY)
    heights = 200  # ~40 KB each: about 8 MB, four times the initial map
    with LmdbStore.open(tmp_path / "s", map_size=2 * MIB, growth=policy) as store:
        for h in range(1, heights + 1):
            store.save_height(_record(h))
        used, map_size = store.usage()
        assert map_size >= 8 * MIB and used <= map_size
        assert all(_whole(store, h) for h in range(1, heights + 1))
    with LmdbStore.open(tmp_path / "s", map_size=2 * MIB, growth=policy) as store:
        assert store.last_height() == heights and _whole(store, heights)
        assert store.usage()[1] >= used  # reopening never shrinks below the data


def test_a_height_that_fills_the_map_is_retried_once_after_growing(tmp_path: Path) -> None:
    # One height bigger than the room left, but under the map's threshold before the write:
    # the write hits MapFullError, the map grows, the whole height is written on the retry.
    policy = GrowthPolicy(growth_step=4 * MIB, min_free_disk=0, free_disk=lambda _: PLENTY)
    with LmdbStore.open(tmp_path / "s", map_size=MIB, growth=policy) as store:
        store.save_height(_record(1, size=100, count=1))
        _, before = store.usage()
        big = _record(2, size=2000, count=1000)  # ~2 MB into a 1 MiB map
        store.save_height(big)
        assert store.last_height() == 2 and store.usage()[1] == before + 4 * MIB
        assert store.get_state(b"h00000002-999") == bytes([2]) * 2000


def test_one_retry_only_a_height_beyond_a_step_fails_cleanly(tmp_path: Path) -> None:
    policy = GrowthPolicy(growth_step=MIB, min_free_disk=0, free_disk=lambda _: PLENTY)
    with LmdbStore.open(tmp_path / "s", map_size=MIB, growth=policy) as store:
        store.save_height(_record(1, size=100, count=1))
        with pytest.raises(StoreError, match=r"full.*remains at height 1"):
            store.save_height(_record(2, size=2000, count=2000))  # ~4 MB: two steps short
        assert store.last_height() == 1 and store.load_block(2) is None
        store.save_height(_record(2))  # a normal height still goes through
        assert _whole(store, 2)


def test_a_disk_too_full_to_grow_stops_the_store_at_a_whole_height(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A simulated 3 MiB disk holding only the store: one step of growth keeps min_free_disk
    # (1 MiB) free if the 2 MiB map fills; a second step would not.
    disk = {"bytes": 3 * MIB}
    path = tmp_path / "s"

    def free_disk(where: str) -> int:
        assert where == str(path)
        return disk["bytes"] - (path / "data.mdb").stat().st_size

    policy = GrowthPolicy(growth_step=MIB, min_free_disk=MIB, free_disk=free_disk)
    saved = 0
    with (
        caplog.at_level(logging.WARNING, logger="ledger.store_lmdb"),
        LmdbStore.open(path, map_size=MIB, growth=policy) as store,
    ):
        assert store.usage()[1] == MIB
        with pytest.raises(StoreFullError) as refused:
            for h in range(1, 1000):
                store.save_height(_record(h))
                saved = h
        message = str(refused.value)
        assert "full" in message and "min_free_disk" in message
        assert f"remains at height {saved}" in message and "\n" not in message
        assert store.last_height() == saved and saved > 5
        assert _whole(store, saved) and store.load_block(saved + 1) is None
        assert store.usage()[1] == 2 * MIB  # grew once, then refused
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # first the disk is nearly full, then it has no room
    assert "disk nearly full" in warnings[0] and "cannot grow" in warnings[1]
    with LmdbStore.open(path, map_size=MIB, growth=policy) as store:  # on disk: whole too
        assert store.last_height() == saved and _whole(store, saved)
        disk["bytes"] = PLENTY  # the operator freed space: writing resumes
        store.save_height(_record(saved + 1))
        assert _whole(store, saved + 1)


def test_growth_warns_before_the_limit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # 3 MiB free, min 1 MiB: growing the nearly full 1 MiB map by 1 MiB keeps under 2 MiB
    # free should the map fill (less than twice the minimum), so it grows but warns.
    policy = GrowthPolicy(growth_step=MIB, min_free_disk=MIB, free_disk=lambda _: 3 * MIB)
    with (
        caplog.at_level(logging.WARNING, logger="ledger.store_lmdb"),
        LmdbStore.open(tmp_path / "s", map_size=MIB, growth=policy) as store,
    ):
        h = 0
        while store.usage()[1] == MIB:
            h += 1
            store.save_height(_record(h))
        assert store.usage()[1] == 2 * MIB
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "disk nearly full" in warnings[0]


@pytest.mark.parametrize("field", ["growth_step", "min_free_disk"])
def test_bad_growth_settings_are_refused(tmp_path: Path, field: str) -> None:
    policy = GrowthPolicy(**{field: -1})  # type: ignore[arg-type]
    with pytest.raises(StoreError, match=field):
        LmdbStore.open(tmp_path / "s", growth=policy)


def test_growing_waits_for_open_reads() -> None:
    gate = ReadGate()
    with gate.reading(), gate.resizing(wait_s=0.0) as drained:
        assert not drained  # a read is open: no re-map under it
        with gate.reading():  # a nested read of the same thread never waits
            pass
    with gate.resizing(wait_s=0.0) as drained:
        assert drained
