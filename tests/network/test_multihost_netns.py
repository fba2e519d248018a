"""Four validators on four "hosts": each in a Linux network namespace with its own address.

The other network tests run every node on 127.0.0.1; here each `depositnet node` process lives
in a namespace of its own (see `tests.network.netns`) and listens on a private 10.213.X.Y
address, so peers dial real, distinct hosts over a bridge, as they would across machines.

- Under load: participants are registered, funded and pay each other, each transaction
  entering through a different validator's API; every one must commit with a verified receipt
  and all four validators must hold the same block at every height.
- Partition: one validator's link is taken down (nothing in or out, no resets). The other three
  (30 of 40 voting power) keep committing, transfers included; once the link is back the cut
  validator catches up to their height and all four agree on every block.

Skipped, with the reason, where namespaces cannot be made (not root, no `ip`, or a container
that forbids `ip netns add`). The fixture removes every namespace, veth and bridge it made and
stops the nodes however the tests end.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
import trio

from ledger.tx import Transfer
from tests.network.netcheck import FAULT_TEST_CONFIG, NetProbe
from tests.network.netns import Netns, NetnsNetwork, NetnsUnavailable
from tests.network.test_node_agreement import CURRENCY, Sender, fund_participants

_funded: set[str] = set()
"""Directories of the module networks whose participants are registered and funded: each test
funds them once if no test before it did, so either test also runs alone (`-k`)."""


async def ensure_funded(net: NetnsNetwork, sender: Sender) -> int:
    """Register and fund the demo participants unless done already; the highest height of
    those commits (0 if there were none to make)."""
    key = str(net.layout.directory)
    if key in _funded:
        return 0
    proofs = await fund_participants(net, sender)
    _funded.add(key)
    return max(p.height for p in proofs)


SEED = 6_014
VALIDATORS = 4
CUT = 3  # the validator whose link is cut; the others hold 30 of 40 voting power
MAJORITY = (0, 1, 2)
PARTITION_HEIGHTS = 3  # blocks the majority must commit while the link is down
DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def netns_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetnsNetwork]:
    try:
        Netns.check_available()
    except NetnsUnavailable as exc:
        pytest.skip(f"no network namespaces here: {exc}")
    netns = Netns(VALIDATORS)
    try:
        netns.create()
        net = NetnsNetwork(tmp_path_factory.mktemp("netns"), netns, config_extra=FAULT_TEST_CONFIG)
        with net:  # stops (and, if need be, kills) every node on the way out
            net.start_all()
            yield net
    finally:
        errors = netns.remove()
        left = netns.leftovers()
        assert not errors and not left, f"cleanup failed: {errors}; still present: {left}"


async def test_transfers_through_each_host_commit_alike(netns_network: NetnsNetwork) -> None:
    net = netns_network
    rng = random.Random(SEED)
    people = [signer for _, signer in sorted(net.layout.participants.items())]
    sender = Sender(net, rng)
    try:
        async with NetProbe(net) as probe:
            with probe.logs_on_failure():
                funded_at = await ensure_funded(net, sender)
                transfers = []
                for round_ in range(2):
                    for i, payer in enumerate(people):
                        payee = people[(i + 1 + round_) % len(people)]
                        body = Transfer(
                            payer.public_key, payee.public_key, CURRENCY, rng.randint(1, 999)
                        )
                        transfers.append(await sender.send(i % net.size, payer, body))
                proofs = await sender.wait_final(transfers)
                top = max(funded_at, *(p.height for p in proofs))
                await probe.wait_for_height(top, deadline_s=DEADLINE_S)
                await probe.assert_same_blocks(top)
                await probe.assert_no_equivocation()
    finally:
        await sender.aclose()


async def test_cut_link_majority_commits_and_cut_node_catches_up(
    netns_network: NetnsNetwork,
) -> None:
    net = netns_network
    rng = random.Random(SEED + 1)
    people = [signer for _, signer in sorted(net.layout.participants.items())]
    sender = Sender(net, rng)
    try:
        async with NetProbe(net) as probe:
            with probe.logs_on_failure():
                await ensure_funded(net, sender)
                await probe.advance(1, deadline_s=DEADLINE_S)  # all four commit together now
                net.netns.cut(CUT)
                try:
                    assert await probe.height(CUT) is None, "the cut node's API still answers"
                    before = await probe.heights(MAJORITY)
                    # transfers during the cut, through each validator of the majority
                    wires = []
                    for i, node in enumerate(MAJORITY):
                        payer, payee = people[i], people[(i + 1) % len(people)]
                        body = Transfer(payer.public_key, payee.public_key, CURRENCY, 1 + i)
                        wires.append(await sender.send(node, payer, body))
                    during = await sender.wait_final(wires)
                    reached = await probe.advance(
                        PARTITION_HEIGHTS, MAJORITY, deadline_s=DEADLINE_S
                    )
                    inside = await trio.to_thread.run_sync(
                        net.netns.get_inside, CUT, net.api_urls[CUT] + "/status"
                    )
                    cut_height = int(json.loads(inside)["height"])
                finally:
                    net.netns.heal(CUT)
                top = min(reached.values())
                # alone it cannot commit: it must fetch what the others committed meanwhile
                assert cut_height < top, (cut_height, reached)
                assert all(p.height > max(h or 0 for h in before.values()) for p in during)
                await probe.wait_for_height(top, deadline_s=DEADLINE_S)  # the cut one too
                await probe.assert_same_blocks(top)
                for proof in during:
                    response = await probe.get(CUT, f"/txs/{proof.tx_id.hex()}")
                    assert response is not None and response.status_code == 200
                    committed = response.json()["committed"]
                    assert (committed["height"], committed["index"]) == (
                        proof.height,
                        proof.index,
                    )
                await probe.assert_no_equivocation()
    finally:
        await sender.aclose()
