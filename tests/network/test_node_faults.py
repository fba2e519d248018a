"""Faults on a network of the module's own: crashes, long outages and partitions.

The four validators dial each other only through `tests.network.proxy` links, which can be cut
silently (bytes dropped, no resets: the nodes notice by their own idle timeouts) and healed.
Each test restores what it broke: all four running, every link open.

Crashes. A SIGKILL lands at a seeded random moment; with empty blocks on, heights go by many
times a second, so that moment is in the middle of a height (votes signed, persisted and in
flight). After each kill the victim's store must reopen holding every block the node served
before the kill (no committed block lost); restarted, it must regain the height its /status
reported and catch up with the others, and never sign a vote that conflicts with one it
signed before the crash: no validator reports equivocation
evidence, in its metrics or its logs, and every validator serves the same block at every
height. The crash loop runs 2 iterations by default and 20 with DEPOSITNET_SOAK=1.

Partitions. Only a side holding more than 2/3 of the voting power commits; the network
converges once the partition heals.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from functools import partial
from typing import Any

import attrs
import pytest
import trio

from network.localnet import LocalNetwork
from network.node import NodeSettings, open_store
from tests.network.netcheck import FAULT_TEST_CONFIG, NetProbe, kill, start, stop
from tests.network.proxy import HOST, ProxyHub, proxied_network

SEED = 6_002
CRASH_ITERATIONS = 20 if os.environ.get("DEPOSITNET_SOAK") == "1" else 2
MAX_KILL_DELAY_S = 0.4
DOWN_HEIGHTS = 24  # > max_catchup_batch (16) and > max_future_heights (2): real catch-up
MAJORITY = (0, 1, 2)  # 30 of 40 voting power
MINORITY = (3,)
PARTITION_HEIGHTS = 12


@attrs.define
class Faulty:
    """The module's network, its proxies, and the heights already proven identical on all
    nodes (so each test compares only the blocks committed since, yet a run of the whole
    module covers every height from 1)."""

    net: LocalNetwork
    hub: ProxyHub
    verified: int = 0

    async def assert_agreement(self, probe: NetProbe) -> None:
        """All four commit together again; same blocks since the last check; no evidence."""
        reached = await probe.advance(2)
        top = min(reached.values())
        await probe.assert_same_blocks(top, from_height=self.verified + 1)
        await probe.assert_no_equivocation()
        self.verified = top


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faulty]:
    """Four validators behind per-link proxies."""
    with ProxyHub() as hub:
        net = proxied_network(
            tmp_path_factory.mktemp("faultnet"), hub, validators=4, config=FAULT_TEST_CONFIG
        )
        hub.start()
        with net:
            net.start_all()
            yield Faulty(net, hub)


# ---------------------------------------------------------------------- crashes and outages


def stored_height(net: LocalNetwork, index: int) -> int:
    """The last height in stopped node `index`'s store, opened the way the node opens it."""
    settings = NodeSettings(data_dir=net.layout.directory / "data" / f"node{index}")
    with open_store(settings) as store:
        return store.last_height()


async def durable_height(probe: NetProbe, index: int) -> int:
    """The last height node `index` has written to its store (`/blocks/latest` reads the
    store; `/status` reports what the replica decided, which may still be being written)."""
    response = await probe.get(index, "/blocks/latest")
    if response is None or response.status_code != 200:
        probe.fail(f"node {index} serves no /blocks/latest", [index])
    height: int = response.json()["height"]
    return height


async def crash_and_restart(probe: NetProbe, rng: random.Random) -> None:
    net = probe.net
    victim = rng.randrange(net.size)
    others = [i for i in range(net.size) if i != victim]
    await trio.sleep(rng.uniform(0.0, MAX_KILL_DELAY_S))
    reported = await probe.height(victim)
    durable = await durable_height(probe, victim)
    if reported is None:
        probe.fail(f"node {victim} does not answer before the kill", [victim])
    await kill(net, victim)

    stored = stored_height(net, victim)  # the store reopens, with all it held
    if stored < durable:
        probe.fail(
            f"node {victim} served block {durable} before the kill but its store reopened at "
            f"{stored}: a committed block was lost",
            [victim],
        )
    await probe.advance(3, others)  # 30 of 40 voting power: the rest go on without it
    await start(net, victim)
    top = max(h or 0 for h in (await probe.heights(others)).values())
    # It regains what it reported before the kill, and catches up with the others.
    await probe.wait_for_height(max(top, reported), [victim])


@pytest.mark.slow
async def test_sigkill_mid_height_and_restart_loses_nothing_and_never_equivocates(
    faulty: Faulty,
) -> None:
    net = faulty.net
    rng = random.Random(SEED)
    async with NetProbe(net) as probe:
        await probe.advance(2)
        for _ in range(CRASH_ITERATIONS):
            await crash_and_restart(probe, rng)
        await faulty.assert_agreement(probe)


async def test_validator_down_for_many_heights_catches_up(
    faulty: Faulty,
) -> None:
    net = faulty.net
    victim = 2
    others = [i for i in range(net.size) if i != victim]
    async with NetProbe(net) as probe:
        await probe.advance(1)
        await stop(net, victim)
        before = stored_height(net, victim)
        reached = await probe.advance(DOWN_HEIGHTS, others)
        target = max(reached.values())
        if target - before < DOWN_HEIGHTS:
            probe.fail(f"only {target - before} heights to catch up from {before}", [victim])
        await start(net, victim)
        await probe.wait_for_height(target, [victim])
        await faulty.assert_agreement(probe)  # and it votes along with the others again


# ---------------------------------------------------------------------- partitions


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
            with trio.fail_after(60):
                assert await before.receive_some() == b"ping"

            with trio.fail_after(60):  # the proxy counts a chunk after delivering it
                while hub.forwarded_bytes < 2 * len(b"ping"):
                    await trio.sleep(0.01)
            hub.partition([0], [1])
            assert hub.is_cut(0, 1)
            forwarded = hub.forwarded_bytes
            await before.send_all(b"lost")
            during = await trio.open_tcp_stream(HOST, port)  # accepted, then silence
            await during.send_all(b"lost too")
            with trio.fail_after(60):
                while hub.dropped_bytes < len(b"lost" + b"lost too"):
                    await trio.sleep(0.01)
            assert hub.forwarded_bytes == forwarded  # nothing got through, nothing was reset

            hub.heal()
            for stale in (before, during):  # they lost bytes: closed at the heal
                with trio.fail_after(60):
                    assert await stale.receive_some() == b""
            after = await trio.open_tcp_stream(HOST, port)
            await after.send_all(b"pong")
            with trio.fail_after(60):
                assert await after.receive_some() == b"pong"
            for stream in (before, during, after):
                await stream.aclose()
        nursery.cancel_scope.cancel()


async def test_minority_stalls_and_the_network_converges_after_healing(
    faulty: Faulty,
) -> None:
    net, hub = faulty.net, faulty.hub
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
        await faulty.assert_agreement(probe)


async def test_even_split_stalls_both_sides_until_healed(
    faulty: Faulty,
) -> None:
    """Neither half holds more than 2/3: nobody commits (nor, per Algorithm 1, leaves the
    round: without 2f+1 prevotes no prevote timeout starts), and all resume once healed."""
    net, hub = faulty.net, faulty.hub
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
        await faulty.assert_agreement(probe)
