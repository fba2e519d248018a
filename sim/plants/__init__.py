"""Patches that plant bugs in production code for one simulated run (see `sim.planted`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def replaced(owner: object, name: str, mutant: object) -> Iterator[None]:
    """Set `owner.name` to `mutant` for the block, then put the original back."""
    original = getattr(owner, name)
    setattr(owner, name, mutant)
    try:
        yield
    finally:
        setattr(owner, name, original)
