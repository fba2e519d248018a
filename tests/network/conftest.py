"""Fixtures for tests that need a real local network of validator processes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from network.localnet import LocalNetwork

FAST_TIMEOUTS = """
[timeouts]
propose_ms = 1000
propose_delta_ms = 250
prevote_ms = 500
prevote_delta_ms = 250
precommit_ms = 500
precommit_delta_ms = 250

[transport]
redial_base_ms = 50
redial_cap_ms = 500
"""


@pytest.fixture(scope="module")
def local_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    """Four validator processes, shared by the tests of one module (they must leave all four
    running when they finish)."""
    with LocalNetwork(
        tmp_path_factory.mktemp("localnet"), validators=4, config_extra=FAST_TIMEOUTS
    ) as network:
        network.start_all()
        yield network
