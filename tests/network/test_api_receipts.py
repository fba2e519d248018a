"""Receipts through the HTTP API (FakeChain behind the real app): `GET /txs/{id}`, the raw
receipt, headers, and the first use named in every submission form's later-use answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgpack
import pytest
import trio

from ledger.receipt import decode_receipt, verify_receipt
from ledger.tx import RegisterParticipant
from ledger.txcodec import from_wire
from network.client_proofs import verify_header_body
from tests.network.apifake import COMPLIANCE, FakeChain, FakeNode, serve_node, signed

NONCE = b"\x07" * 16
MSGPACK = {"content-type": "application/msgpack"}


@pytest.fixture
async def api(nursery: trio.Nursery) -> AsyncIterator[tuple[FakeChain, httpx.AsyncClient]]:
    chain = FakeChain()
    url = await serve_node(nursery, FakeNode(chain))
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield chain, client


def register(name: str, key: bytes = b"\x11" * 32) -> bytes:
    """Compliance registering `key` as `name`, always with the same nonce (hence tx_id)."""
    return signed(COMPLIANCE, RegisterParticipant(key, name, 10_000), nonce=NONCE)


def proves(chain: FakeChain, committed: dict[str, Any], **expected: bytes) -> None:
    """`committed` carries a receipt that verifies for `expected` and matches its fields."""
    receipt = decode_receipt(bytes.fromhex(committed["receipt"]))
    genesis = chain.genesis
    proved = verify_receipt(
        receipt, chain_id=genesis.chain_id, validators=genesis.validator_set(), **expected
    )
    assert (proved.height, proved.index, proved.code) == (
        committed["height"],
        committed["index"],
        committed["code"],
    )
    assert (proved.tx_id.hex(), proved.block_id.hex()) == (
        committed["tx_id"],
        committed["block_id"],
    )
    assert proved.time_ms == committed["block_time_ms"]


async def submit_three_ways(client: httpx.AsyncClient, tx: bytes) -> list[httpx.Response]:
    return [
        await client.post("/txs", json={"tx": tx.hex()}),
        await client.post("/txs/batch", json={"txs": [tx.hex()]}),
        await client.post("/txs/batch", content=msgpack.packb([tx]), headers=MSGPACK),
    ]


async def test_an_exact_resend_of_committed_bytes_gets_its_receipt_in_every_form(api) -> None:
    chain, client = api
    tx = register("first")
    assert (await client.post("/txs", json={"tx": tx.hex()})).status_code == 202
    chain.commit()
    chain.commit()  # the chain moves on; the receipt stays that of height 1
    single, batch, packed = await submit_three_ways(client, tx)
    assert single.status_code == 200
    verdicts = [single.json(), batch.json()["results"][0], packed.json()["results"][0]]
    assert [v["code"] for v in verdicts] == ["ALREADY_COMMITTED"] * 3
    assert verdicts[0]["committed"] == verdicts[1]["committed"] == verdicts[2]["committed"]
    assert verdicts[0]["committed"]["height"] == 1
    proves(chain, verdicts[0]["committed"], signed=tx)


async def test_a_different_body_under_a_used_id_names_the_first_transaction(api) -> None:
    chain, client = api
    first, other = register("first"), register("other")
    await client.post("/txs", json={"tx": first.hex()})
    chain.commit()
    single, batch, packed = await submit_three_ways(client, other)
    assert single.status_code == 422
    verdicts = [single.json(), batch.json()["results"][0], packed.json()["results"][0]]
    assert [v["code"] for v in verdicts] == ["DUPLICATE_TX_ID"] * 3
    named = verdicts[0]["committed"]
    assert named == verdicts[1]["committed"] == verdicts[2]["committed"]
    assert "height 1 (index 0)" in verdicts[0]["message"]
    proves(chain, named, signed=first)  # the receipt is the first transaction's ...
    assert decode_receipt(bytes.fromhex(named["receipt"])).tx != other  # ... not this one's


async def test_a_pending_duplicate_is_refused_without_a_receipt(api) -> None:
    _chain, client = api
    await client.post("/txs", json={"tx": register("first").hex()})
    response = await client.post("/txs", json={"tx": register("other").hex()})
    assert response.json()["code"] == "DUPLICATE_TX_ID" and response.json()["committed"] is None


async def test_the_raw_receipt_is_the_same_bytes_and_only_once_committed(api) -> None:
    chain, client = api
    tx = register("first")
    tx_id = (await client.post("/txs", json={"tx": tx.hex()})).json()["tx_id"]
    pending = await client.get(f"/txs/{tx_id}/receipt")
    assert pending.status_code == 404 and pending.json()["error"]["code"] == "NOT_FOUND"
    chain.commit()
    raw = await client.get(f"/txs/{tx_id}/receipt")
    assert raw.status_code == 200 and raw.headers["content-type"] == "application/octet-stream"
    status = (await client.get(f"/txs/{tx_id}")).json()
    assert raw.content == bytes.fromhex(status["committed"]["receipt"])


async def test_headers_come_with_their_certificate(api) -> None:
    chain, client = api
    none_yet = await client.get("/blocks/latest/header")
    assert none_yet.status_code == 404
    chain.commit()
    chain.commit()
    latest = (await client.get("/blocks/latest/header")).json()
    first = (await client.get("/blocks/1/header")).json()
    verified = verify_header_body(chain.genesis, latest)
    assert verified.header.height == 2 and verified.block_id == chain.blocks[2].block_id
    assert latest["header"]["time_ms"] == 2000 and latest["block_id"] == verified.block_id.hex()
    assert verify_header_body(chain.genesis, first).header.height == 1
    assert (await client.get("/blocks/3/header")).status_code == 404


async def test_a_receipt_of_a_two_thousand_transaction_block_stays_small(api) -> None:
    chain, client = api
    txs = [
        signed(COMPLIANCE, RegisterParticipant(i.to_bytes(32, "big"), f"p{i}", 9))
        for i in range(1, 2002)
    ]
    chain.commit(txs=txs[:1])
    chain.commit(txs=txs[1:])  # 2,000 txs: more than the fake's mempool reaps
    sizes = []
    for tx in (txs[0], txs[2000]):
        raw = await client.get(f"/txs/{from_wire(tx).tx_id.hex()}/receipt")
        assert raw.status_code == 200 and decode_receipt(raw.content).tx == tx
        sizes.append(len(raw.content))
    one_tx_block, big_block = sizes
    assert len(chain.blocks[2].block) > 200 * big_block  # no whole block
    assert big_block - one_tx_block <= 2 * 11 * 34  # eleven more levels per path (2^11 >= 2000)


async def test_stored_data_that_does_not_decode_is_a_500_not_a_receipt(api) -> None:
    chain, client = api
    tx = register("first")
    tx_id = (await client.post("/txs", json={"tx": tx.hex()})).json()["tx_id"]
    chain.commit()
    chain.result_leaves[1] = msgpack.packb([b"\x00" * 20])  # the store's results are damaged
    chain.receipts = type(chain.receipts)(chain)  # nothing cached
    response = await client.get(f"/txs/{tx_id}")
    assert response.status_code == 500 and response.json()["error"]["code"] == "INTERNAL"
