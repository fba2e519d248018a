"""Chain time starts at the genesis time: block 1 must be later than it, and a new chain's
blocks carry times near it (each block may exceed its predecessor by a bounded step), never
hours after 1970."""

from __future__ import annotations

import pytest

from consensus.merkle import merkle_root
from consensus.replica.block import decode_block, make_block
from consensus.replica.chain import check_block
from consensus.replica.replica import Replica
from tests.consensus.replica.driver import CHAIN, Net

GENESIS_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_a_new_chain_waits_for_its_genesis_time_then_follows_the_clocks() -> None:
    genesis_ms = 4_000
    net = Net(4, genesis_time_ms=genesis_ms)
    assert {n.replica.tip.time_ms for n in net.nodes} == {genesis_ms}
    net.start()  # the drivers' clocks read 0 ms: behind the genesis time
    committed_at: list[int] = []
    net.run_until(lambda: net.min_height() >= 1, 20_000)
    committed_at.append(net.now)
    net.run_until(lambda: net.min_height() >= 3, 5_000)
    times = []
    for height in (1, 2, 3):
        raw = net.nodes[0].store.load_block(height)
        assert raw is not None
        times.append(decode_block(raw, 1 << 24).header.time_ms)
    drift = net.config.max_clock_drift_ms
    # Block 1 was stamped after the genesis time, and judged only once the clocks came within
    # the drift bound of its time; later blocks carry the proposers' clocks.
    assert genesis_ms < times[0] < times[1] < times[2] <= net.now + drift
    assert committed_at[0] >= times[0] - drift
    net.assert_agreement()
    node = net.nodes[1]
    node.restart()  # after a restart the tip's time is the committed block's, not genesis
    assert node.replica.tip.time_ms == times[node.replica.tip.height - 1]


def test_a_block_stamped_ahead_of_a_validators_clock_is_judged_when_the_clock_gets_there() -> None:
    """A validator defers valid(v) for a block more than max_clock_drift_ms ahead of its clock:
    a proposer cannot push chain time (and so expiry) ahead of the correct validators."""
    net = Net(4, genesis_time_ms=GENESIS_MS)
    net.start()
    net.run_for(3_000)
    assert net.min_height() == 0  # every validator's clock is decades behind: nothing commits
    assert all(n.replica._early for n in net.nodes if n.replica._blocks)


def test_block_one_must_be_later_than_the_genesis_time() -> None:
    net = Net(4, genesis_time_ms=GENESIS_MS)
    replica, node = net.nodes[0].replica, net.nodes[0]

    def block_at(time_ms: int) -> str | None:
        block = make_block(
            chain_id=CHAIN,
            height=1,
            time_ms=time_ms,
            prev_block_id=replica.tip.block_id,
            app_hash=node.app.app_hash,
            results_root=merkle_root([]),
            proposer=net.nodes[1].key,
            txs=(),
            last_commit=None,
            evidence=(),
        )
        return check_block(
            block,
            chain_id=CHAIN,
            tip=replica.tip,
            app=node.app,
            pool=replica._pool,
            validators=net.validators,
            scheme=net.scheme,
            config=replica.config,
        )

    assert block_at(GENESIS_MS + 1) is None
    assert block_at(GENESIS_MS) == "block time does not increase"
    assert block_at(1_000) == "block time does not increase"


@pytest.mark.parametrize("bad", [-1, True, 1.5])
def test_a_bad_genesis_time_is_a_usage_error(bad: object) -> None:
    net = Net(4)
    node = net.nodes[0]
    with pytest.raises(ValueError, match="genesis_time_ms"):
        Replica.open(
            chain_id=CHAIN,
            validators=net.validators,
            signer=node.signer,
            app=node.app,
            mempool=node.mempool,
            store=node.store,
            genesis_time_ms=bad,  # type: ignore[arg-type]
        )
