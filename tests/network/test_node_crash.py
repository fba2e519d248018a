"""Validators killed mid-height, or down for many heights, come back without harm.

A SIGKILL lands at a seeded random moment; with empty blocks on, heights go by many times a
second, so that moment is in the middle of a height (votes signed, persisted and in flight).
After each restart the victim must reopen its store at or above the height it reported before
the kill (no committed block lost), catch up with the others, and never sign a vote that
conflicts with one it signed before the crash: no validator reports equivocation evidence, in
its metrics or its logs, and every validator serves the same block at every height.

The crash loop runs 2 iterations by default and 20 with DEPOSITNET_SOAK=1.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
import trio

from network.localnet import LocalNetwork
from tests.network.netcheck import FAULT_TEST_CONFIG, NetProbe, kill, start, stop

SEED = 6_002
CRASH_ITERATIONS = 20 if os.environ.get("DEPOSITNET_SOAK") == "1" else 2
MAX_KILL_DELAY_S = 0.4
DOWN_HEIGHTS = 32  # > max_catchup_batch (16) and > max_future_heights (2): real catch-up


@pytest.fixture(scope="module")
def crash_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    """Four validators of this module's own (the tests kill them; each restores all four)."""
    with LocalNetwork(
        tmp_path_factory.mktemp("crashnet"), validators=4, config_extra=FAULT_TEST_CONFIG
    ) as network:
        network.start_all()
        yield network


def started_height(probe: NetProbe, index: int, since: int) -> int:
    """The height node `index` resumed at, from its `validator started` line after `since`."""
    lines = [r for r in probe.log_records(index, since=since) if r["msg"] == "validator started"]
    if len(lines) != 1:
        probe.fail(f"node {index} logged {len(lines)} start lines after its restart", [index])
    return int(lines[0]["height"])


async def crash_and_restart(probe: NetProbe, rng: random.Random) -> None:
    net = probe.net
    victim = rng.randrange(net.size)
    others = [i for i in range(net.size) if i != victim]
    await trio.sleep(rng.uniform(0.0, MAX_KILL_DELAY_S))
    before = await probe.height(victim)
    if before is None:
        probe.fail(f"node {victim} does not answer before the kill", [victim])
    await kill(net, victim)

    await probe.advance(3, others)  # 30 of 40 voting power: the rest go on without it
    offset = probe.log_size(victim)
    await start(net, victim)  # only succeeds once the store reopened and the node listens
    resumed = started_height(probe, victim, offset)
    if resumed - 1 < before:
        probe.fail(
            f"node {victim} reported height {before} before the kill but restarted from its "
            f"store at {resumed - 1}: a committed block was lost",
            [victim],
        )
    top = max(h or 0 for h in (await probe.heights(others)).values())
    await probe.wait_for_height(top, [victim])  # caught up with where the others were


@pytest.mark.slow
async def test_sigkill_mid_height_and_restart_loses_nothing_and_never_equivocates(
    crash_network: LocalNetwork,
) -> None:
    net = crash_network
    rng = random.Random(SEED)
    async with NetProbe(net) as probe:
        await probe.advance(2)
        for _ in range(CRASH_ITERATIONS):
            await crash_and_restart(probe, rng)
        reached = await probe.advance(2)  # all four commit together again
        await probe.assert_same_blocks(min(reached.values()))
        await probe.assert_no_equivocation()


async def test_validator_down_for_many_heights_catches_up(crash_network: LocalNetwork) -> None:
    net = crash_network
    victim = 2
    others = [i for i in range(net.size) if i != victim]
    async with NetProbe(net) as probe:
        await probe.advance(1)
        before = await probe.height(victim)
        assert before is not None
        await stop(net, victim)
        reached = await probe.advance(DOWN_HEIGHTS, others)
        target = max(reached.values())
        assert target >= before + DOWN_HEIGHTS

        offset = probe.log_size(victim)
        await start(net, victim)
        assert started_height(probe, victim, offset) - 1 >= before
        await probe.wait_for_height(target, [victim])
        after = await probe.advance(2)  # and then it votes along with the others again
        await probe.assert_same_blocks(min(after.values()))
        await probe.assert_no_equivocation()
