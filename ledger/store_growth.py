"""When and how far the LMDB map grows, and the gate that makes growing safe.

Why: an LMDB map has a fixed size; a full map refuses every write, and a validator that
cannot write a height halts. So the store grows its map by `growth_step` before it fills
(above `GROW_AT` of the map), and once more if a write still finds it full. Growing only
raises a limit (on Linux the file grows as pages are written), but the limit is a promise of
disk: a grown map may fill, so growing is refused when the disk would then keep less than
`min_free_disk` free. The node then stops cleanly at a whole height instead of dying later
on a disk with no room for its logs. A warning comes first, when the disk would keep less
than twice `min_free_disk`.

Resizing re-maps the file, so no transaction of this process may be open meanwhile: writes
are sequential (the executor), and reads pass through `ReadGate`, which growing closes.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs

from consensus.interfaces import StoreError

GROW_AT = 0.8
"""Grow before a height's write once this fraction of the map is in use."""

GATE_WAIT_S = 5.0
"""How long growing waits for open reads to finish before giving up on this attempt."""

FreeDisk = Callable[[str], int]


def disk_free(path: str) -> int:
    """Free bytes on the filesystem holding `path` (the default `FreeDisk`)."""
    return shutil.disk_usage(path).free


class StoreFullError(StoreError):
    """The map is full and the disk has no room to grow it; the store is at a whole height."""


@attrs.frozen
class GrowthPolicy:
    """How the map grows; `growth_step` 0 never grows (the map size is then a hard limit)."""

    growth_step: int = 1 << 30
    min_free_disk: int = 1 << 30
    free_disk: FreeDisk = disk_free

    def headroom(self, path: str, used: int, new_map_size: int) -> int:
        """Bytes the disk keeps free if a map of `new_map_size` (now `used`) fills up."""
        return self.free_disk(path) - max(0, new_map_size - used)


def needs_growth(used: int, map_size: int) -> bool:
    return used >= GROW_AT * map_size


class ReadGate:
    """Many readers at once, or one resize with no reader: a small readers-writer gate.

    Every store read passes through `reading()`, so it is the gate itself (no generator per
    read) and its lock is a plain `Lock` (the Condition's default `RLock` costs more)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._resizing = False
        self._mine = threading.local()  # this thread's open reads: a nested read never waits

    def reading(self) -> ReadGate:
        """`with gate.reading():` holds off resizes until the block ends."""
        return self

    def __enter__(self) -> None:
        mine = self._mine
        nested = getattr(mine, "count", 0)
        with self._cond:
            while self._resizing and not nested:
                self._cond.wait()
            self._readers += 1
        mine.count = nested + 1

    def __exit__(self, *exc_info: object) -> None:
        self._mine.count -= 1
        with self._cond:
            self._readers -= 1
            if self._resizing:  # only a resize waits for readers: every read is hot
                self._cond.notify_all()

    @contextmanager
    def resizing(self, wait_s: float = GATE_WAIT_S) -> Iterator[bool]:
        """Yields True with every read finished and new ones held back; False on timeout."""
        with self._cond:
            self._resizing = True
            try:
                drained = self._cond.wait_for(lambda: self._readers == 0, timeout=wait_s)
            except BaseException:
                self._resizing = False
                self._cond.notify_all()
                raise
        try:
            yield drained
        finally:
            with self._cond:
                self._resizing = False
                self._cond.notify_all()
