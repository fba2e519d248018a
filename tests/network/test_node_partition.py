"""Network partitions through a fault-injecting TCP proxy: only a side holding more than 2/3 of
the voting power commits, and the network converges once the partition heals.

The validators of this module dial each other only through `tests.network.proxy` links, which
drop bytes silently while cut (no resets: the nodes notice by their own idle timeouts).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import trio

from network.localnet import LocalNetwork
from tests.network.netcheck import FAULT_TEST_CONFIG, NetProbe
from tests.network.proxy import HOST, ProxyHub, proxied_network

MAJORITY = (0, 1, 2)  # 30 of 40 voting power
MINORITY = (3,)
PARTITION_HEIGHTS = 12


@pytest.fixture(scope="module")
def partitioned(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalNetwork, ProxyHub]]:
    """Four validators behind per-link proxies; each test heals what it cut."""
    with ProxyHub() as hub:
        net = proxied_network(
            tmp_path_factory.mktemp("partnet"), hub, validators=4, config=FAULT_TEST_CONFIG
        )
        hub.start()
        with net:
            net.start_all()
            yield net, hub


async def test_proxy_cuts_silently_and_heals() -> None:
    """The test tool itself: forwards, then drops without a reset, then forwards new ones."""

    async def echo(stream: trio.SocketStream) -> None:
        async for data in stream:
            await stream.send_all(data)

    async with trio.open_nursery() as nursery:
        (listener,) = await nursery.start(partial(trio.serve_tcp, echo, 0, host=HOST))
        with ProxyHub() as hub:
            port = hub.add_link(0, 1, listener.socket.getsockname()[1])
            hub.start()
            before = await trio.open_tcp_stream(HOST, port)
            await before.send_all(b"ping")
            with trio.fail_after(10):
                assert await before.receive_some() == b"ping"

            hub.partition([0], [1])
            assert hub.is_cut(0, 1)
            forwarded = hub.forwarded_bytes
            await before.send_all(b"lost")
            during = await trio.open_tcp_stream(HOST, port)  # accepted, then silence
            await during.send_all(b"lost too")
            with trio.fail_after(10):
                while hub.dropped_bytes < len(b"lost" + b"lost too"):
                    await trio.sleep(0.01)
            assert hub.forwarded_bytes == forwarded  # nothing got through, nothing was reset

            hub.heal()
            for stale in (before, during):  # they lost bytes: closed at the heal
                with trio.fail_after(10):
                    assert await stale.receive_some() == b""
            after = await trio.open_tcp_stream(HOST, port)
            await after.send_all(b"pong")
            with trio.fail_after(10):
                assert await after.receive_some() == b"pong"
            for stream in (before, during, after):
                await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_minority_stalls_and_the_network_converges_after_healing(
    partitioned: tuple[LocalNetwork, ProxyHub],
) -> None:
    net, hub = partitioned
    async with NetProbe(net) as probe:
        await probe.advance(2)
        hub.partition(MAJORITY, MINORITY)
        try:
            # Nothing of a height above the majority's highest commit now was ever sent to the
            # minority, so it can commit at most one more height (from precommits in flight).
            cut_at = max(h or 0 for h in (await probe.heights(MAJORITY)).values())

            async def isolated() -> bool:
                status = await probe.status(MINORITY[0])
                return status is not None and status["peers"] == []

            await probe.wait_until(isolated, "the minority to notice it is alone")
            reached = await probe.advance(PARTITION_HEIGHTS, MAJORITY)
            stalled = await probe.height(MINORITY[0])
            if stalled is None or stalled > cut_at + 1:
                probe.fail(f"the minority committed {stalled} while cut off at {cut_at}")
        finally:
            hub.heal()
        await probe.wait_for_height(max(reached.values()), MINORITY)
        after = await probe.advance(2)
        await probe.assert_same_blocks(min(after.values()))
        await probe.assert_no_equivocation()


async def test_even_split_stalls_both_sides_until_healed(
    partitioned: tuple[LocalNetwork, ProxyHub],
) -> None:
    """Neither half holds more than 2/3: nobody commits (nor, per Algorithm 1, leaves the
    round: without 2f+1 prevotes no prevote timeout starts), and all resume once healed."""
    net, hub = partitioned
    halves = ((0, 1), (2, 3))
    keys = [k.public_key.hex() for k in net.layout.validator_keys]
    partner = {a: b for x, y in halves for a, b in ((x, y), (y, x))}
    async with NetProbe(net) as probe:
        await probe.advance(2)
        hub.partition(*halves)
        try:
            cut_at = max(h or 0 for h in (await probe.heights()).values())
            seen: dict[int, Any] = {}

            async def halves_alone() -> bool:
                for i in range(net.size):
                    seen[i] = await probe.status(i)
                return all(
                    s is not None and s["peers"] == [keys[partner[i]]] for i, s in seen.items()
                )

            # Once every node has dropped the other half for its silence (idle timeout), all
            # that was in flight at the cut has long been handled.
            await probe.wait_until(halves_alone, "each half to notice the other is gone")
            if any(s["height"] > cut_at + 1 for s in seen.values()):
                probe.fail(f"a half of the network committed on its own: {seen} (cut at {cut_at})")
        finally:
            hub.heal()
        after = await probe.advance(3)
        await probe.assert_same_blocks(min(after.values()))
        await probe.assert_no_equivocation()
