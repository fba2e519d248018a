"""A real validator process whose store starts with a 1 MiB map keeps committing a stream of
transfers: the map grows by itself (seen on /metrics) instead of halting the node."""

from __future__ import annotations

from pathlib import Path

import trio

from consensus.crypto import Ed25519Signer
from ledger.store_lmdb import LmdbStore
from ledger.tx import Mint, RegisterParticipant, Transfer
from network.client import DepositClient
from network.client_errors import ClientError
from network.client_signing import sign_body
from network.localnet import LocalNetwork
from tests.network.conftest import FAST_TIMEOUTS
from tests.network.netcheck import NetProbe
from tests.network.test_metrics_e2e import scrape, value

MIB = 1 << 20
TINY_STORE = """
[store]
initial_map_size = 1048576
growth_step = 1048576
min_free_disk = 0
"""
BATCH = 300
FINAL_S = 120.0  # bounds only: each wait ends at the event
DEADLINE_S = 400.0


async def test_a_tiny_map_grows_while_transfers_keep_committing(tmp_path: Path) -> None:
    with LocalNetwork(
        tmp_path / "net", validators=1, config_extra=FAST_TIMEOUTS + TINY_STORE
    ) as net:
        net.start_all()
        genesis, roles = net.genesis, net.layout.roles
        usd = genesis.currencies[0].code
        alice, bob = Ed25519Signer(b"\x2a" * 32), Ed25519Signer(b"\x2b" * 32)
        async with NetProbe(net) as probe, DepositClient(net.api_urls, genesis) as client:
            start = await scrape(probe, 0)
            assert value(start, "depositnet_store_map_size_bytes") == MIB
            for signer, body in (
                (roles["compliance"], RegisterParticipant(alice.public_key, "alice", 10**12)),
                (roles["compliance"], RegisterParticipant(bob.public_key, "bob", 10**12)),
                (roles["issuer-usd"], Mint(alice.public_key, usd, 10**11, "grow-1")),
            ):
                receipt = await client.sign_and_wait(signer, body, timeout_s=60)
                assert receipt.code == "OK", receipt
            sent, grown_after = 0, 0

            async def send_batch() -> None:
                # A batch of transfers, then its last one final: the chain keeps pace.
                nonlocal sent
                until = await client.chain_time_ms() + 600_000
                wires = []
                for _ in range(BATCH):
                    sent += 1
                    body = Transfer(alice.public_key, bob.public_key, usd, 1, f"t{sent}")
                    wires.append(sign_body(alice, genesis.chain_id, body, valid_until_ms=until)[1])
                results = await client.submit_batch(wires)
                assert all(r.accepted for r in results), results[0]
                receipt = await client.submit_and_wait(wires[-1], timeout_s=FINAL_S)
                assert receipt.code == "OK", receipt

            with trio.fail_after(DEADLINE_S):
                while value(await scrape(probe, 0), "depositnet_store_map_size_bytes") < 2 * MIB:
                    await send_batch()
                grown_after = sent
                await send_batch()  # transfers still commit after the map grew
                await send_batch()
            assert 0 < grown_after < sent
            grown = await scrape(probe, 0)
            assert value(grown, "depositnet_store_map_size_bytes") >= 2 * MIB
            used = value(grown, "depositnet_store_used_bytes")
            assert MIB < used <= value(grown, "depositnet_store_map_size_bytes")
            height = await probe.height(0)
            assert height is not None
            await probe.wait_for_height(height + 1, nodes=[0])
            assert net.is_running(0)


NO_ROOM = """
[store]
initial_map_size = 1048576
growth_step = 1048576
min_free_disk = 1125899906842624
"""


async def test_a_store_without_room_to_grow_stops_the_node_at_a_whole_height(
    tmp_path: Path,
) -> None:
    # min_free_disk = 2**50: no disk can keep that free, so the 1 MiB map may never grow.
    with LocalNetwork(tmp_path / "net", validators=1, config_extra=FAST_TIMEOUTS + NO_ROOM) as net:
        net.start_all()
        genesis, roles = net.genesis, net.layout.roles
        async with DepositClient(net.api_urls, genesis, timeout_s=5) as client:
            n = 0

            async def stream() -> None:
                nonlocal n
                while True:
                    until = await client.chain_time_ms() + 600_000
                    wires = []
                    for _ in range(BATCH):
                        n += 1
                        body = RegisterParticipant(n.to_bytes(32, "big"), f"p{n}", 10**9)
                        signed = sign_body(
                            roles["compliance"], genesis.chain_id, body, valid_until_ms=until
                        )
                        wires.append(signed[1])
                    await client.submit_batch(wires)
                    await client.submit_and_wait(wires[-1], timeout_s=FINAL_S)

            async def node_exit(cancel: trio.CancelScope) -> None:
                while net.is_running(0):
                    await trio.sleep(0.05)
                cancel.cancel()

            with trio.fail_after(DEADLINE_S):
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(node_exit, nursery.cancel_scope)
                        nursery.start_soon(stream)
                except* ClientError:
                    pass  # the node went away mid-request: node_exit ends the wait
                while net.is_running(0):
                    await trio.sleep(0.05)
        status = net.stop(0)
        log = net.log_path(0).read_text(encoding="utf-8")
        assert status == 2, log[-2000:]
        assert "Traceback" not in log, log[-4000:]
        errors = [line for line in log.splitlines() if line.startswith("depositnet: error:")]
        assert len(errors) == 1 and "is full" in errors[0] and "min_free_disk" in errors[0], log
        assert "cannot grow" in log  # the warning came before the stop
        with LmdbStore.open(tmp_path / "net" / "data" / "node0" / "store", create=False) as store:
            last = store.last_height()  # opening checks the pointer against the blocks
            assert last > 1 and store.load_block(last) and store.load_commit(last)
            assert f"remains at height {last}" in errors[0]
