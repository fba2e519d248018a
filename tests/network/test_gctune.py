import gc
from collections.abc import Iterator

import pytest

from network.gctune import tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tune_gc_freezes_the_startup_heap_and_raises_the_young_threshold(
    restore_gc: None,
) -> None:
    survivor = [object() for _ in range(1000)]  # alive at "start-up"
    _, middle, old = gc.get_threshold()
    tune_gc(young=12_345)
    assert gc.get_freeze_count() >= len(survivor)
    assert gc.get_threshold() == (12_345, middle, old)


def test_tune_gc_refuses_a_zero_threshold(restore_gc: None) -> None:
    with pytest.raises(ValueError, match="positive"):
        tune_gc(young=0)
