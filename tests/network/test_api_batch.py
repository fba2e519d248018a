"""POST /txs/batch: many transactions in one request, one verdict each, in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import trio

from ledger.tx import RegisterParticipant
from network.api_models import MAX_BATCH_TXS
from network.client import DepositClient
from tests.network.apifake import ALICE, BOB, COMPLIANCE, FakeChain, FakeNode, serve_node, signed


@pytest.fixture
async def api(nursery: trio.Nursery) -> AsyncIterator[tuple[FakeChain, httpx.AsyncClient]]:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield chain, client


async def test_a_batch_gets_one_verdict_per_tx_in_order(
    api: tuple[FakeChain, httpx.AsyncClient],
) -> None:
    chain, client = api
    alice = signed(COMPLIANCE, RegisterParticipant(ALICE.public_key, "alice", 10_000))
    bob = signed(COMPLIANCE, RegisterParticipant(BOB.public_key, "bob", 10_000))
    broken = bytearray(bob)
    broken[-1] ^= 1
    response = await client.post(
        "/txs/batch", json={"txs": [alice.hex(), bytes(broken).hex(), alice.hex(), bob.hex()]}
    )
    assert response.status_code == 200
    codes = [(r["accepted"], r["code"]) for r in response.json()["results"]]
    assert codes == [
        (True, "OK"),
        (False, "BAD_SIGNATURE"),
        (False, "ALREADY_IN_MEMPOOL"),
        (True, "OK"),
    ]
    chain.commit()
    status = await client.get(f"/txs/{response.json()['results'][3]['tx_id']}")
    assert status.json()["state"] == "committed"


@pytest.mark.parametrize(
    "body",
    [
        {"txs": []},
        {"txs": ["zz"]},
        {"txs": "00"},
        {"txs": ["00"], "extra": 1},
        {"txs": ["00"] * (MAX_BATCH_TXS + 1)},
    ],
)
async def test_malformed_batches_are_refused_whole_with_400(
    api: tuple[FakeChain, httpx.AsyncClient], body: object
) -> None:
    chain, client = api
    response = await client.post("/txs/batch", json=body)
    assert response.status_code == 400
    assert "code" in response.json()["error"]
    assert len(chain.mempool) == 0


async def test_the_sdk_submits_a_batch(api: tuple[FakeChain, httpx.AsyncClient]) -> None:
    chain, client = api
    alice = signed(COMPLIANCE, RegisterParticipant(ALICE.public_key, "alice", 10_000))
    async with DepositClient([str(client.base_url)], chain.genesis) as sdk:
        first, again = await sdk.submit_batch([alice, alice])
    assert (first.accepted, first.code) == (True, "OK")
    assert again.known and not again.accepted
